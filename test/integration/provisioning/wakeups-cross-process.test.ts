import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { connect } from '../../../src/db/connect.js';
import { changeSignals } from '../../../src/db/change-signals.js';
import { OrderService } from '../../../src/orders/orders.js';
import { createWorkflow } from '../../../src/provisioning/workflows/engine.js';
import { WAKEUP_TOPICS, WorkerWakeups, type WakeupTopic } from '../../../src/provisioning/wakeups.js';
import { createTestDatabase, testDatabases, type TestDatabase } from '../../support/databases.js';
import { seedMachine } from '../../support/seed.js';
import { waitFor } from '../../support/wait.js';

/**
 * Two "processes" on one database, each with its own connection(s): the one that records boot
 * activity or allocates an order tells the other's worker through the database (NOTIFY on
 * PostgreSQL, data_version on SQLite), so the other does not wait for its poll.
 */

async function seedWaitingWorkflow(knex: Knex, machineId: string): Promise<void> {
  await seedMachine(knex, machineId);
  await createWorkflow(knex, { kind: 'deploy', machineId }, new Date(Date.now() + 3_600_000).toISOString());
}

describe.each(testDatabases())('wake-ups between processes on %s', (dialect) => {
  let dir: string;
  let db: TestDatabase;
  let other: Knex;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-signals-'));
    db = await createTestDatabase(dialect, dialect === 'sqlite' ? { file: join(dir, 'anvil.sqlite') } : {});
    other = connect(db.target);
  });
  afterAll(async () => {
    await other?.destroy();
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A worker's wake-ups, subscribed and settled (its LISTEN done, or its first data_version read). */
  async function listeningWorker(knex: Knex): Promise<{ wakeups: WorkerWakeups; heard: WakeupTopic[]; stop: () => void }> {
    const wakeups = new WorkerWakeups(knex, { signals: changeSignals(knex, { topics: WAKEUP_TOPICS, sqlitePollMs: 20 }) });
    const heard: WakeupTopic[] = [];
    const offs = WAKEUP_TOPICS.map((topic) => wakeups.subscribe(topic, () => heard.push(topic)));
    await new Promise((r) => setTimeout(r, 300));
    heard.length = 0;
    return { wakeups, heard, stop: () => offs.forEach((off) => off()) };
  }

  /** Another process's wake-ups, on its own connection. */
  const otherProcess = (): WorkerWakeups => new WorkerWakeups(other, { signals: changeSignals(other, { topics: WAKEUP_TOPICS }) });

  it("boot activity recorded by one process wakes the other process's worker", async () => {
    await seedWaitingWorkflow(db.knex, 'x1');
    const listening = await listeningWorker(db.knex);
    try {
      expect(await otherProcess().wakeMachines(['x1'])).toBe(1);
      await waitFor(() => listening.heard.includes('workflows'), 10_000, 'the worker to hear the wake-up');
    } finally {
      listening.stop();
    }
  });

  it('an order allocated by an API process wakes the provisioner elsewhere', async () => {
    await seedMachine(db.knex, 'x-ord', 'signals-profile');
    const listening = await listeningWorker(db.knex);
    try {
      // The API process's order service allocates, commits (on SQLite that commit is the signal) and
      // announces (PostgreSQL's NOTIFY).
      const orders = new OrderService({ knex: other, wakeups: otherProcess() });
      const { order } = await orders.createOrder(
        { external_id: 'SIG-1', customer_id: 'c', contact_email: 'c@example.com', hardware_profile: 'signals-profile', country: 'MA', os_image: 'debian-12', hostname: 'sig1', ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf3hBt0i8gJ0nUJ3Kx0kXNZ3oT5b8Q7t8n0yYx2ZQ2k t@x'], support_tier: 'managed', paid_at: new Date().toISOString() },
        'signals-1',
        { name: 'test' },
      );
      expect(order.status).toBe('allocated');
      await waitFor(() => listening.heard.includes('orders'), 10_000, 'the provisioner to hear the allocation');
    } finally {
      listening.stop();
    }
  });

  it("does not signal a process with its own activity (it told its listeners directly)", async () => {
    await seedWaitingWorkflow(db.knex, 'x2');
    const listening = await listeningWorker(db.knex);
    try {
      expect(await listening.wakeups.wakeMachines(['x2'])).toBe(1);
      // Heard once, in process; an echo from the database would add a second 'workflows'.
      await new Promise((r) => setTimeout(r, 500));
      expect(listening.heard).toEqual(['workflows']);
      // And it was listening all along (a silent listener would pass the check above): another
      // process's activity reaches it (on SQLite as every topic: a commit does not say which).
      expect(await otherProcess().wakeMachines(['x2'])).toBe(1);
      await waitFor(() => listening.heard.slice(1).includes('workflows'), 10_000, "another process's wake-up");
    } finally {
      listening.stop();
    }
  });

  if (dialect === 'postgres') {
    it('reconnects a listener whose connection was killed, and then hears signals again', async () => {
      await seedWaitingWorkflow(db.knex, 'x3');
      const admin = knexFactory({ client: 'pg', connection: process.env.TEST_DATABASE_URL, pool: { min: 0, max: 1 } });
      // Only this listener's connection is killed (another Anvil on the same server keeps its own):
      // the one opened after this point.
      const since = (await admin.raw('select now() as t')).rows[0].t as Date;
      const ours = `application_name = 'anvil-signals' and query like 'LISTEN%' and backend_start >= ?`;
      const listening = await listeningWorker(db.knex);
      try {
        await waitFor(async () => Number((await admin.raw(`select count(*) as n from pg_stat_activity where ${ours}`, [since])).rows[0].n) > 0, 10_000, 'the LISTEN connection');
        listening.heard.length = 0;
        await admin.raw(`select pg_terminate_backend(pid) from pg_stat_activity where ${ours}`, [since]);
        // After reconnecting it reports every topic: signals sent meanwhile were lost.
        await waitFor(() => listening.heard.includes('workflows') && listening.heard.includes('orders'), 15_000, 'the listener to reconnect');
        listening.heard.length = 0;
        expect(await otherProcess().wakeMachines(['x3'])).toBe(1);
        await waitFor(() => listening.heard.includes('workflows'), 10_000, 'a signal after the reconnect');
      } finally {
        listening.stop();
        await admin.destroy();
      }
    });
  }
});
