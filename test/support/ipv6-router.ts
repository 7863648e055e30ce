import { spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROUTER_ADVERTISER = fileURLToPath(new URL('./ipv6-router-advertiser.py', import.meta.url));

/**
 * Answers the firmware's IPv6 router solicitations (ipv6-router-advertiser.py), which saves iPXE
 * about 13 s of waiting per boot (docs/boot.md). Without python3 the tests still pass, only slower.
 * `spawnInNamespace` starts a command in the namespace of `iface` and stops it with the namespace.
 */
export async function startRouterAdvertiser(spawnInNamespace: (cmd: string, args: string[]) => ChildProcess, iface: string): Promise<void> {
  if (spawnSync('python3', ['--version']).status !== 0) return;
  const child = spawnInNamespace('python3', [ROUTER_ADVERTISER, iface]);
  const out: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`IPv6 router advertiser did not start: ${out.join('')}`)), 15_000);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (/^ready$/m.test(stdout)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => out.push(chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`IPv6 router advertiser exited (${String(code)}): ${out.join('')}`));
    });
  });
}
