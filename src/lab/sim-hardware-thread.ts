/**
 * Worker-thread entry of `startSimHardwareThread` (sim-hardware.ts): runs the simulated BMCs and
 * servers and answers `start`, `attach` and `stop`; machine events are posted back as they happen.
 */
import { workerData } from 'node:worker_threads';
import { startSimHardware, type SimHardware, type SimHardwareOptions } from './sim-hardware.js';
import { serveLabThreadCalls } from './thread-calls.js';

let hardware: SimHardware | null = null;

const thread = serveLabThreadCalls({
  async start() {
    hardware = await startSimHardware(workerData as SimHardwareOptions, (e) => thread.emit({ ...e, at: e.at.getTime() }));
    return { machines: hardware.machines, clientPort: hardware.clientPort };
  },
  attach: (arg) => hardware!.attach(arg as Parameters<SimHardware['attach']>[0]),
  async stop() {
    await hardware?.stop();
  },
});
