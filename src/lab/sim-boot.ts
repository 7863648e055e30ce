import type { BootServiceOptions } from '../boot/service.js';
import type { DatabaseTarget } from '../db/connect.js';
import { openLabThread } from './thread-calls.js';

export interface SimBootThreadData {
  target: DatabaseTarget;
  config: BootServiceOptions['config'];
}

/**
 * The boot role of a simulated site in a worker thread, on its own database connection: the shape
 * of a boot-only `anvil serve --roles boot` process (sim-boot-thread.ts is its entry).
 */
export async function startSimBootThread(data: SimBootThreadData): Promise<{ ports: { dhcpPort: number; tftpPort: number }; stop(): Promise<void> }> {
  try {
    const thread = await openLabThread<{ dhcpPort: number; tftpPort: number }>(import.meta.url, 'sim-boot-thread', data);
    return { ports: thread.started, stop: () => thread.stop() };
  } catch (err) {
    throw new Error(`simulated boot role did not start: ${err instanceof Error ? err.message : String(err)}`);
  }
}
