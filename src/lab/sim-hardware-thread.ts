/**
 * Worker-thread entry of `startSimHardwareThread` (sim-hardware.ts): runs the simulated BMCs and
 * servers and answers `start`, `attach` and `stop`; machine events are posted back as they happen.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startSimHardware, type SimHardware, type SimHardwareOptions } from './sim-hardware.js';

const port = parentPort!;
let hardware: SimHardware | null = null;

port.on('message', (m: { id: number; op: 'start' | 'attach' | 'stop'; arg?: unknown }) => {
  const run = async (): Promise<unknown> => {
    switch (m.op) {
      case 'start':
        hardware = await startSimHardware(workerData as SimHardwareOptions, (e) => port.postMessage({ event: { ...e, at: e.at.getTime() } }));
        return { machines: hardware.machines, clientPort: hardware.clientPort };
      case 'attach':
        return hardware!.attach(m.arg as Parameters<SimHardware['attach']>[0]);
      case 'stop':
        await hardware?.stop();
        return undefined;
    }
  };
  run().then(
    (value) => port.postMessage({ id: m.id, ok: true, value }),
    (err: unknown) => port.postMessage({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
