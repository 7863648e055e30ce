/**
 * Worker-thread entry of startSimBootThread (sim-boot.ts): the boot role on a connection of its
 * own, telling workers about boot activity only through the database, as a separate process would.
 */
import { workerData } from 'node:worker_threads';
import { bootPorts, createBootService } from '../boot/service.js';
import { connect } from '../db/connect.js';
import { createLogger } from '../log.js';
import { databaseWakeups } from '../provisioning/wakeups.js';
import type { SimBootThreadData } from './sim-boot.js';
import { serveLabThreadCalls } from './thread-calls.js';

const data = workerData as SimBootThreadData;
const logger = createLogger({ level: 'error' });
const knex = connect(data.target);
const wakeups = databaseWakeups(knex, { logger });
const boot = createBootService({ config: data.config, knex, logger, onActivity: wakeups.machineActivity });

serveLabThreadCalls({
  async start() {
    await boot.start();
    return bootPorts(boot);
  },
  async stop() {
    await boot.stop().catch(() => undefined);
    await knex.destroy().catch(() => undefined);
  },
});
