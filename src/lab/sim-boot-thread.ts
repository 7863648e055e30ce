/**
 * Worker-thread entry of startSimBootThread (sim-boot.ts): the boot role on a connection of its
 * own, telling workers about boot activity only through the database, as a separate process would.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createBootService } from '../boot/service.js';
import { changeSignals } from '../db/change-signals.js';
import { connect } from '../db/connect.js';
import { createLogger } from '../log.js';
import { WAKEUP_TOPICS, WorkerWakeups } from '../provisioning/wakeups.js';
import type { SimBootReply, SimBootThreadData } from './sim-boot.js';

const data = workerData as SimBootThreadData;
const port = parentPort!;
const reply = (m: SimBootReply): void => port.postMessage(m);
const logger = createLogger({ level: 'error' });
const knex = connect(data.target);
const wakeups = new WorkerWakeups(knex, { logger, signals: changeSignals(knex, { topics: WAKEUP_TOPICS, logger }) });
const boot = createBootService({ config: data.config, knex, logger, onActivity: (events) => wakeups.machineActivity(events) });

try {
  await boot.start();
  reply({ ok: true, dhcpPort: boot.dhcp!.ports()[0]!, tftpPort: boot.tftp!.address().port });
} catch (err) {
  reply({ ok: false, error: err instanceof Error ? err.message : String(err) });
}

port.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  void (async () => {
    await boot.stop().catch(() => undefined);
    await knex.destroy().catch(() => undefined);
    reply({ stopped: true });
  })();
});
