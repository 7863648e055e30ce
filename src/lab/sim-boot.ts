import { Worker } from 'node:worker_threads';
import type { BootServiceOptions } from '../boot/service.js';
import type { DatabaseTarget } from '../db/connect.js';
import { workerThreadEntry } from '../paths.js';

export interface SimBootThreadData {
  target: DatabaseTarget;
  config: BootServiceOptions['config'];
}

export type SimBootReply = { ok: true; dhcpPort: number; tftpPort: number } | { ok: false; error: string } | { stopped: true };

/**
 * The boot role of a simulated site in a worker thread, on its own database connection: the shape
 * of a boot-only `anvil serve --roles boot` process (sim-boot-thread.ts is its entry).
 */
export async function startSimBootThread(data: SimBootThreadData): Promise<{ ports: { dhcpPort: number; tftpPort: number }; stop(): Promise<void> }> {
  const { filename, execArgv } = workerThreadEntry(import.meta.url, 'sim-boot-thread');
  const thread = new Worker(filename, { workerData: data, ...(execArgv ? { execArgv } : {}), name: 'anvil-sim-boot' });
  const started = await new Promise<SimBootReply>((resolve, reject) => {
    thread.once('message', resolve);
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`simulated boot role thread exited (${code})`)));
  });
  if (!('ok' in started) || !started.ok) {
    await thread.terminate();
    throw new Error(`simulated boot role did not start: ${'error' in started ? started.error : 'no reply'}`);
  }
  return {
    ports: { dhcpPort: started.dhcpPort, tftpPort: started.tftpPort },
    async stop() {
      const stopped = new Promise<void>((resolve) => {
        thread.once('message', () => resolve());
        thread.once('exit', () => resolve());
      });
      thread.postMessage('stop');
      await stopped;
      await thread.terminate();
    },
  };
}
