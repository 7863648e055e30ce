import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeAll } from '../../../src/bmc/registry.js';
import { InventoryService } from '../../../src/inventory/service.js';
import { startRedfishSimFleet, type RedfishSimFleet } from '../../../src/lab/redfish-sim/index.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';
import { createTestDatabase, testDatabases, type TestDatabase } from '../../support/databases.js';
import { runCli } from '../../support/cli.js';

/** `anvil sweep` and `anvil incident` against a real database and a simulated Redfish BMC. */

describe.each(testDatabases())('anvil sweep / incident on %s', (dialect) => {
  let dir: string;
  let db: TestDatabase;
  let fleet: RedfishSimFleet;
  let env: NodeJS.ProcessEnv;

  const run = (argv: string[]) => runCli(argv, env);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-health-cli-'));
    db = await createTestDatabase(dialect, dialect === 'sqlite' ? { file: join(dir, 'anvil.sqlite') } : {});
    const key = randomBytes(32);
    env = { DATABASE_URL: db.url, ANVIL_DATA_DIR: join(dir, 'data'), ANVIL_LOG_LEVEL: 'error', ANVIL_SECRET_KEY: key.toString('base64') };
    fleet = await startRedfishSimFleet({ count: 1 });
    fleet.instances[0]!.setHealth({ kind: 'drive', drive: 'SATA Bay 2', state: 'ok' });
    fleet.instances[0]!.setHealth({ kind: 'psu', index: 0, state: 'ok' });
    const inventory = new InventoryService({ knex: db.knex, secrets: new SecretBox(key) });
    await inventory.createSite({ code: 'CLI-1', name: 'CLI', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca' }, { name: 'test' });
    const e = fleet.endpoint(0);
    await inventory.createMachine(
      { serial: 'CLI-M0', hardware_profile: 'p', site: 'CLI-1', bmc: { protocol: 'redfish', host: e.host, port: e.port!, username: e.username, password: e.password, tls: e.tls }, nics: [{ name: 'eno1', mac: fleet.instances[0]!.macs[0]!, pxe: true }] },
      { name: 'test' },
    );
  }, 30_000);

  afterAll(async () => {
    await closeAll();
    await fleet?.stop();
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects bad arguments with usage (exit 2)', async () => {
    expect((await run(['sweep', 'extra'])).code).toBe(2);
    expect((await run(['sweep', '--concurrency', '0'])).code).toBe(2);
    expect((await run(['incident'])).code).toBe(2);
    expect((await run(['incident', 'resolve', 'x'])).stderr).toContain('needs --reason');
    expect((await run(['sweep', '--help'])).stdout).toContain('anvil sweep [--site CODE]');
  });

  it('sweeps a site and prints plain progress and the result', async () => {
    const r = await run(['sweep', '--site', 'CLI-1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/checking 1 machines in CLI-1/);
    expect(r.stdout).toMatch(/sweep \S+ done: 1\/1 machines checked, 0 unknown/);
    // Run without the serving processes' configuration: incidents it opens would not reach customers.
    expect(r.stderr).toContain("anvil: warning: no notifications.webhook in the configuration: customers of incidents this sweep opens are not notified (use the serving processes' --config or ANVIL_CONFIG)");
    expect((await run(['sweep', '--site', 'NOPE'])).code).toBe(1);
  });

  it('does not warn about notifications when the configuration has the webhook', async () => {
    const config = join(dir, 'with-webhook.yaml');
    writeFileSync(config, 'notifications:\n  webhook: { url: "http://127.0.0.1:9/hook", secret: "0123456789abcdef0" }\n');
    const r = await run(['sweep', '--site', 'CLI-1', '--config', config]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('notifications.webhook');
    expect((await run(['incident', 'list'])).stderr).not.toContain('notifications.webhook');
  });

  it('a failed drive shows in the sweep summary and as an incident that can be handled from the CLI', async () => {
    fleet.instances[0]!.setHealth({ kind: 'drive', drive: 'SATA Bay 1', state: 'failed' });
    const r = await run(['sweep', '--machine', 'CLI-M0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/CLI-M0\s+failed\s+drive:SATA Bay 1 critical/);
    const list = await run(['incident', 'list', '--status', 'open']);
    expect(list.code).toBe(0);
    const line = list.stdout.split('\n').find((l) => l.includes('drive:SATA Bay 1'))!;
    expect(line).toMatch(/major\s+open/);
    const id = line.split(/\s+/)[0]!;
    expect((await run(['incident', 'ack', id, '--note', 'looking'])).stdout).toMatch(/status\s+acknowledged/);
    expect((await run(['incident', 'note', id, 'spare drive on its way'])).code).toBe(0);
    expect((await run(['incident', 'time', id, '40', '--note', 'swap'])).stdout).toMatch(/intervention\s+40 min/);
    const resolved = await run(['incident', 'resolve', id, '--reason', 'drive swapped']);
    expect(resolved.stdout).toMatch(/status\s+resolved \(drive swapped\)/);
    const show = await run(['incident', 'show', id]);
    expect(show.stdout).toContain('spare drive on its way');
    expect((await run(['incident', 'show', 'no-such-id'])).code).toBe(1);
  });
});
