import { spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROUTER_ADVERTISER = fileURLToPath(new URL('./ipv6-router-advertiser.py', import.meta.url));

/**
 * Answers the firmware's IPv6 router solicitations (ipv6-router-advertiser.py), which saves iPXE
 * about 13 s of waiting per boot (docs/boot.md). An optimisation only: without python3, or where
 * the advertiser cannot start (IPv6 off in the namespace), the tests run as before, only slower.
 * `spawnInNamespace` starts a command in the namespace of `iface` and stops it with the namespace.
 */
export async function startRouterAdvertiser(spawnInNamespace: (cmd: string, args: string[]) => ChildProcess, iface: string): Promise<void> {
  if (spawnSync('python3', ['--version']).status !== 0) return;
  const child = spawnInNamespace('python3', [ROUTER_ADVERTISER, iface]);
  const errors: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('it did not report ready within 15 s')), 15_000);
      let stdout = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (/^ready$/m.test(stdout)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.on('data', (chunk: Buffer) => errors.push(chunk.toString()));
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`it exited (${String(code)})`));
      });
    });
  } catch (err) {
    console.warn(`IPv6 router advertiser not running on ${iface} (${(err as Error).message}${errors.length ? `: ${errors.join('').trim()}` : ''}); iPXE boots will wait for a router`);
  }
}
