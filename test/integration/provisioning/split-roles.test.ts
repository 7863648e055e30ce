import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRuntime, buildWorker } from '../../../src/cli/runtime.js';
import { loadConfig } from '../../../src/config/load.js';
import { startSimSite, type SimSite } from '../../../src/lab/sim-site.js';
import { createLogger } from '../../../src/log.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';
import { createTestDatabase, testDatabases, type TestDatabase } from '../../support/databases.js';
import { expectDeliveredOnce } from '../../support/crash-site.js';

/**
 * The split topology: the boot role on a database connection of its own (a thread standing in for a
 * boot-only process), the API and worker here. Waiting steps poll every two minutes and the worker's
 * idle pass is two minutes too, so orders delivered within the test's time were woken by the boot
 * role's activity through the database's change signals, not found by polling.
 */
describe.each(testDatabases())('boot role and worker on separate connections on %s', (dialect) => {
  let dir: string;
  let db: TestDatabase;
  let site: SimSite;
  const logger = createLogger({ level: 'warn' });
  const secrets = new SecretBox(randomBytes(32));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-split-'));
    db = await createTestDatabase(dialect, dialect === 'sqlite' ? { file: join(dir, 'anvil.sqlite') } : {});
    site = await startSimSite({ knex: db.knex, secrets, logger, count: 3, installMs: 0, bootThread: { target: db.target } });
  }, 60_000);
  afterAll(async () => {
    await site?.stop();
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers orders with every wait ended by a signal from the boot role', async () => {
    expect(site.boot).toBeNull();
    const rt = buildRuntime({ config: loadConfig({ env: {}, flags: { dataDir: dir } }), knex: db.knex, secrets, logger });
    const worker = buildWorker(rt, logger, { pollMs: 120_000 });
    const stop = new AbortController();
    const running = worker.provisioner.run(stop.signal, 120_000);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { order } = await rt.orders.createOrder(
          { external_id: `S-${i}`, customer_id: `c${i}`, contact_email: 'c@example.com', hardware_profile: 'sim-64g', country: 'MA', os_image: 'debian-12', hostname: `s${i}`, ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf3hBt0i8gJ0nUJ3Kx0kXNZ3oT5b8Q7t8n0yYx2ZQ2k t@x'], support_tier: 'managed', paid_at: new Date().toISOString() },
          `split-${i}`,
          { name: 'test' },
        );
        ids.push(order.id);
      }
      // Within 60 s (expectDeliveredOnce gives up then): before any poll of this worker came due.
      await expectDeliveredOnce(db, ids);
      const events = (await db.knex('machine_events').distinct('event').pluck('event')) as string[];
      expect(events).toEqual(expect.arrayContaining(['pxe_seen', 'script_served', 'install_finished']));
      const callbacks = (await db.knex('deployment_callbacks').distinct('event').pluck('event')) as string[];
      expect(callbacks).toEqual(expect.arrayContaining(['installed', 'first_boot']));
    } finally {
      stop.abort();
      await running;
    }
  }, 90_000);
});
