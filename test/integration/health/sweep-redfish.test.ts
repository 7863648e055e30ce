import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { BmcOperationQueue } from '../../../src/bmc/serialize.js';
import { BmcRegistry } from '../../../src/bmc/registry.js';
import { ManualClock } from '../../../src/clock.js';
import { LockedError } from '../../../src/errors.js';
import { createHealthServices, type HealthServices } from '../../../src/health/services.js';
import { InventoryService } from '../../../src/inventory/service.js';
import { startRedfishSimFleet, type RedfishSimFleet } from '../../../src/lab/redfish-sim/index.js';
import { Notifier } from '../../../src/notifications/outbox.js';
import { allocateMachine } from '../../../src/provisioning/allocation.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';

/**
 * Health sweeps against the in-process Redfish simulator (public-rackmount1 over HTTPS with a
 * pinned certificate): faults set through the simulator's API are found by a sweep, open the
 * right incident with the contract's tier deadlines and a notification, keep the machine out of
 * allocation, and resolve after two healthy sweeps.
 */

const actor = { name: 'cli:test' };
const HOUR = 3_600_000;

interface Fixture {
  fleet: RedfishSimFleet;
  health: HealthServices;
  clock: ManualClock;
  registry: BmcRegistry;
  secrets: SecretBox;
  ids: string[];
}

async function setUp(knex: Knex, fleet: RedfishSimFleet): Promise<Fixture> {
  const secrets = new SecretBox(randomBytes(32));
  const clock = new ManualClock(new Date());
  const inventory = new InventoryService({ knex, secrets, clock });
  await inventory.createSite({ code: 'HS-1', name: 'Health site', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca' }, actor);
  await inventory.createRack({ site: 'HS-1', name: 'R1', height_u: 42 }, actor);
  const ids: string[] = [];
  for (let i = 0; i < fleet.instances.length; i++) {
    const e = fleet.endpoint(i);
    const m = await inventory.createMachine(
      {
        serial: `HS-${i}`,
        hardware_profile: `hp-${i}`,
        site: 'HS-1',
        rack: 'R1',
        rack_unit: i + 1,
        bmc: { protocol: 'redfish', host: e.host, port: e.port!, username: e.username, password: e.password, tls: e.tls },
        nics: [{ name: 'eno1', mac: fleet.instances[i]!.macs[0]!, pxe: true }],
      },
      actor,
    );
    ids.push(m.id);
  }
  const ts = clock.now().toISOString();
  // Machines 0 and 1 serve customers (managed, fully managed); 2 and 3 are available stock.
  const orders = [
    { id: 'order-0', tier: 'managed', machine: ids[0] },
    { id: 'order-1', tier: 'fully_managed', machine: ids[1] },
  ];
  for (const o of orders) {
    await knex('orders').insert({
      id: o.id, idempotency_key: o.id, request_hash: 'h', external_id: `ext-${o.id}`, customer_id: `cust-${o.id}`, contact_email: 'ops@example.com',
      hardware_profile: 'x', country: 'MA', os_image: 'debian-12', hostname: `host-${o.id}`, support_tier: o.tier, status: 'delivered',
      machine_id: o.machine, paid_at: ts, deadline_at: ts, delivered_at: ts, created_by: 'test', created_at: ts, updated_at: ts,
    });
    await knex('machines').where({ id: o.machine }).update({ provision_state: 'active', order_id: o.id });
  }
  await knex('machines').whereIn('id', [ids[2], ids[3]]).update({ provision_state: 'available' });
  const registry = new BmcRegistry({ queue: new BmcOperationQueue(), timeoutMs: 5000, readRetries: 0 });
  const notifier = new Notifier({ webhook: { url: 'http://127.0.0.1:9/hook', secret: 'x'.repeat(32) } }, secrets, clock);
  const health = createHealthServices({
    knex, secrets, clock, notifier, drivers: registry, owner: 'test-a',
    endpointFor: (id) => inventory.getBmcEndpoint(id),
    settings: { machineBudgetMs: 4000, concurrency: 8 },
  });
  return { fleet, health, clock, registry, secrets, ids };
}

async function openIncidents(knex: Knex, machineId: string): Promise<Record<string, unknown>[]> {
  return knex('incidents').where({ machine_id: machineId }).whereNot('status', 'resolved');
}

describe.each(testDatabases())('health sweeps with the Redfish simulator on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  let fx: Fixture;
  let fleet: RedfishSimFleet;

  beforeAll(async () => {
    fleet = await startRedfishSimFleet({ count: 4 });
    // The mockup ships a Warning drive and a Warning PSU; start from a healthy fleet.
    for (const sim of fleet.instances) {
      sim.setHealth({ kind: 'drive', drive: 'SATA Bay 2', state: 'ok' });
      sim.setHealth({ kind: 'psu', index: 0, state: 'ok' });
    }
    fx = await setUp(t.knex, fleet);
  }, 30_000);

  afterAll(async () => {
    await fx?.health.sweeper.idle();
    await fx?.registry.closeAll();
    await fleet?.stop();
  });

  it('a first sweep finds a healthy fleet, records history and opens nothing', async () => {
    const sweep = await fx.health.sweeper.sweep({ site: 'HS-1', requestedBy: 'test' });
    expect(sweep).toMatchObject({ status: 'done', total: 4, done: 4, errors: 0 });
    const machines = await t.knex('machines').whereIn('id', fx.ids).pluck('health');
    expect(machines).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(await t.knex('incidents').count({ n: '*' }).first()).toMatchObject({ n: expect.anything() });
    expect(Number((await t.knex('incidents').count({ n: '*' }).first())!.n)).toBe(0);
    const history = await t.knex('health_results').where({ sweep_id: sweep.id, machine_id: fx.ids[0] });
    expect(history.map((r) => r.component)).toEqual(expect.arrayContaining(['bmc', 'power', 'system:437XR1138R2', 'drive:SATA Bay 1', 'sensor:1U:CPU1 Temp', 'psu:1U:0', 'log:new-entries']));
  });

  it('a failed drive on a managed customer server opens one major incident with managed deadlines and a notification', async () => {
    fleet.instances[0]!.setHealth({ kind: 'drive', drive: 'SATA Bay 1', state: 'failed' });
    await fx.health.sweeper.sweep({ site: 'HS-1', requestedBy: 'test' });
    const open = await openIncidents(t.knex, fx.ids[0]!);
    // The drive's Critical log line is covered by the drive's own incident.
    expect(open).toHaveLength(1);
    const inc = open[0]!;
    expect(inc).toMatchObject({ component: 'drive:SATA Bay 1', severity: 'major', status: 'open', source: 'auto', support_tier: 'managed', customer_id: 'cust-order-0', order_id: 'order-0' });
    const opened = Date.parse(String(new Date(inc.opened_at as string).toISOString()));
    expect(Date.parse(new Date(inc.notify_by as string).toISOString()) - opened).toBe(0.5 * HOUR);
    expect(Date.parse(new Date(inc.process_by as string).toISOString()) - opened).toBe(2 * HOUR);
    expect(Date.parse(new Date(inc.resolve_by as string).toISOString()) - opened).toBe(4 * HOUR);
    expect(inc.notified_at).not.toBeNull();
    expect(inc.deadline_status).toBe('on_track');
    const notes = await t.knex('notifications').where({ subject_type: 'incident', subject_id: inc.id });
    expect(notes.map((n) => n.event)).toEqual(['incident.opened']);
    expect((await t.knex('machines').where({ id: fx.ids[0] }).first()).health).toBe('failed');
  });

  it('a second sweep with the drive still failed opens no second incident', async () => {
    await fx.health.sweeper.sweep({ site: 'HS-1', requestedBy: 'test' });
    expect(await openIncidents(t.knex, fx.ids[0]!)).toHaveLength(1);
  });

  it('a dead PSU on a fully managed server opens a major incident with fully managed deadlines', async () => {
    fleet.instances[1]!.setHealth({ kind: 'psu', index: 0, state: 'failed' });
    await fx.health.sweeper.sweep({ site: 'HS-1', requestedBy: 'test' });
    const open = await openIncidents(t.knex, fx.ids[1]!);
    expect(open).toHaveLength(1);
    const inc = open[0]!;
    expect(inc).toMatchObject({ component: 'psu:1U:0', severity: 'major', support_tier: 'fully_managed' });
    const opened = Date.parse(new Date(inc.opened_at as string).toISOString());
    expect(Date.parse(new Date(inc.process_by as string).toISOString()) - opened).toBe(0.5 * HOUR);
    expect(Date.parse(new Date(inc.resolve_by as string).toISOString()) - opened).toBe(2 * HOUR);
    expect(await t.knex('notifications').where({ subject_id: inc.id, event: 'incident.opened' })).toHaveLength(1);
  });

  it('an overheating CPU on an available machine fails it, keeps it out of allocation, and opens an incident without customer clocks', async () => {
    fleet.instances[2]!.setHealth({ kind: 'cpu-temperature', celsius: 96 });
    await fx.health.sweeper.sweep({ site: 'HS-1', requestedBy: 'test' });
    const m2 = await t.knex('machines').where({ id: fx.ids[2] }).first();
    expect(m2.health).toBe('failed');
    const open = await openIncidents(t.knex, fx.ids[2]!);
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ component: 'sensor:1U:CPU1 Temp', severity: 'major', customer_id: null, notify_by: null, process_by: null, deadline_status: null });
    const reading = await t.knex('machine_components').where({ machine_id: fx.ids[2], component: 'sensor:1U:CPU1 Temp' }).first();
    expect(Number(reading.reading_value)).toBe(96);
    const ts = fx.clock.now().toISOString();
    await t.knex('orders').insert({
      id: 'order-wait', idempotency_key: 'order-wait', request_hash: 'h', external_id: 'ext-wait', customer_id: 'cust-w', contact_email: 'w@example.com',
      hardware_profile: 'hp-2', country: 'MA', os_image: 'debian-12', hostname: 'w', support_tier: 'managed', paid_at: ts, deadline_at: ts,
      created_by: 'test', created_at: ts, updated_at: ts,
    });
    expect(await allocateMachine(t.knex, { orderId: 'order-wait', hardwareProfile: 'hp-2', country: 'MA' }, ts)).toBeNull();
  });

  it('deadline statuses move with time and each change is published', async () => {
    fx.clock.advance(3.5 * HOUR);
    const changed = await fx.health.incidents.refreshDeadlines();
    expect(changed).toBeGreaterThanOrEqual(2);
    const [managed] = await openIncidents(t.knex, fx.ids[0]!);
    // Processing (2 h) is overdue: breached.
    expect(managed!.deadline_status).toBe('breached');
    expect(await t.knex('notifications').where({ subject_id: managed!.id, event: 'incident.deadline_status_changed' })).toHaveLength(1);
    expect(await fx.health.incidents.refreshDeadlines()).toBe(0);
  });

  it('faults repaired: incidents stay open after one healthy sweep and resolve after the second; the machine is allocatable again', async () => {
    fleet.instances[0]!.setHealth({ kind: 'drive', drive: 'SATA Bay 1', state: 'ok' });
    fleet.instances[1]!.setHealth({ kind: 'psu', index: 0, state: 'ok' });
    fleet.instances[2]!.setHealth({ kind: 'cpu-temperature', celsius: 40 });
    await fx.health.sweeper.sweep({ site: 'HS-1', requestedBy: 'test' });
    for (const id of fx.ids.slice(0, 3)) {
      const open = await openIncidents(t.knex, id);
      expect(open).toHaveLength(1);
      expect(open[0]!.healthy_sweeps).toBe(1);
    }
    await fx.health.sweeper.sweep({ site: 'HS-1', requestedBy: 'test' });
    for (const id of fx.ids.slice(0, 3)) expect(await openIncidents(t.knex, id)).toHaveLength(0);
    const resolved = await t.knex('incidents').where({ machine_id: fx.ids[0] }).first();
    expect(resolved).toMatchObject({ status: 'resolved', resolved_by: 'system:sweeper' });
    expect(String(resolved.resolved_reason)).toMatch(/2 consecutive sweeps/);
    expect(await t.knex('notifications').where({ subject_id: resolved.id, event: 'incident.resolved' })).toHaveLength(1);
    expect(await t.knex('machines').whereIn('id', fx.ids).pluck('health')).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(await allocateMachine(t.knex, { orderId: 'order-wait', hardwareProfile: 'hp-2', country: 'MA' }, fx.clock.now().toISOString())).toBe(fx.ids[2]);
  });

  it('a hung BMC costs only its time budget and is reported unknown, never healthy', async () => {
    fleet.instances[3]!.injectFault({ kind: 'hang' });
    try {
      const started = Date.now();
      const sweep = await fx.health.sweeper.sweep({ site: 'HS-1', requestedBy: 'test' });
      const elapsed = Date.now() - started;
      expect(sweep).toMatchObject({ status: 'done', total: 4, done: 4, errors: 1 });
      // Budget 4000 ms; the other machines answer in tens of ms. Margin for a loaded 2-core CI box.
      expect(elapsed).toBeLessThan(10_000);
      const m3 = await t.knex('machines').where({ id: fx.ids[3] }).first();
      expect(m3.health).toBe('unknown');
      const bmc = await t.knex('machine_components').where({ machine_id: fx.ids[3], component: 'bmc' }).first();
      expect(bmc.status).toBe('unknown');
      expect(String(bmc.message)).toMatch(/4000 ms budget/);
      expect(await t.knex('machines').whereIn('id', fx.ids.slice(0, 3)).pluck('health')).toEqual(['ok', 'ok', 'ok']);
    } finally {
      fleet.instances[3]!.clearFaults();
    }
  });

  it('rejected BMC credentials are a fault (bmc critical, major incident), not an unknown', async () => {
    fleet.instances[3]!.expireSessions();
    fleet.instances[3]!.injectFault({ kind: 'auth' });
    try {
      const sweep = await fx.health.sweeper.sweep({ machine: 'HS-3', requestedBy: 'test' });
      expect(sweep).toMatchObject({ total: 1, errors: 1 });
      const bmc = await t.knex('machine_components').where({ machine_id: fx.ids[3], component: 'bmc' }).first();
      expect(bmc.status).toBe('critical');
      expect((await t.knex('machines').where({ id: fx.ids[3] }).first()).health).toBe('failed');
      const open = await openIncidents(t.knex, fx.ids[3]!);
      expect(open.map((i) => [i.component, i.severity])).toEqual([['bmc', 'major']]);
    } finally {
      fleet.instances[3]!.clearFaults();
    }
    await fx.health.sweeper.sweep({ machine: 'HS-3', requestedBy: 'test' });
    await fx.health.sweeper.sweep({ machine: 'HS-3', requestedBy: 'test' });
    expect(await openIncidents(t.knex, fx.ids[3]!)).toHaveLength(0);
    expect((await t.knex('machines').where({ id: fx.ids[3] }).first()).health).toBe('ok');
  });

  it('two sweepers on one site: only one runs at a time, and a scheduled tick runs once per interval', async () => {
    const other = createHealthServices({
      knex: t.knex, secrets: fx.secrets, clock: fx.clock, notifier: null, drivers: fx.registry, owner: 'test-b',
      endpointFor: (id) => new InventoryService({ knex: t.knex, secrets: fx.secrets }).getBmcEndpoint(id),
    });
    fleet.instances[0]!.injectFault({ kind: 'latency', ms: 300 }, { times: 4 });
    const first = await fx.health.sweeper.start({ site: 'HS-1', requestedBy: 'a' });
    await expect(other.sweeper.start({ site: 'HS-1', requestedBy: 'b' })).rejects.toBeInstanceOf(LockedError);
    await first.finished;
    fleet.instances[0]!.clearFaults();
    // Both processes tick at once: exactly one wins the interval.
    const results = await Promise.all([fx.health.sweeper.tick('HS-1'), other.sweeper.tick('HS-1')]);
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect(await fx.health.sweeper.tick('HS-1')).toBeNull();
  });

  it('the sweeper role runs a scheduled sweep when the interval has passed, then waits', async () => {
    await t.knex('sweep_ticks').where({ id: 'site:HS-1' }).update({ last_tick_at: null });
    const before = Number((await t.knex('sweeps').where({ trigger: 'schedule' }).count({ n: '*' }).first())!.n);
    const stop = new AbortController();
    const running = fx.health.sweeper.run(stop.signal, { site: 'HS-1', pollMs: 50 });
    // Polls with a 20 s deadline; one sweep of four healthy simulated BMCs takes about a second.
    const deadline = Date.now() + 20_000;
    while (Number((await t.knex('sweeps').where({ trigger: 'schedule', status: 'done' }).count({ n: '*' }).first())!.n) === before) {
      if (Date.now() > deadline) throw new Error('no scheduled sweep ran');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    stop.abort();
    await running;
    // Several polls happened after the first sweep, but the 15-minute interval allows only one.
    expect(Number((await t.knex('sweeps').where({ trigger: 'schedule' }).count({ n: '*' }).first())!.n)).toBe(before + 1);
  });

  it('a maintenance window notifies the customer in advance and suppresses incidents while it lasts', async () => {
    const now = fx.clock.now();
    const window = await fx.health.maintenance.announce(
      { scope: 'rack', target: 'HS-1/R1', starts_at: now.toISOString(), ends_at: new Date(now.getTime() + HOUR).toISOString(), reason: 'PDU replacement' },
      actor,
    );
    expect(window).toMatchObject({ scope: 'rack', target_name: 'HS-1/R1', notified: true, notified_customers: 2 });
    expect(await t.knex('notifications').where({ event: 'maintenance.announced' })).toHaveLength(2);
    fleet.instances[0]!.setHealth({ kind: 'drive', drive: 'SATA Bay 1', state: 'failed' });
    try {
      await fx.health.sweeper.sweep({ site: 'HS-1', requestedBy: 'test' });
      expect(await openIncidents(t.knex, fx.ids[0]!)).toHaveLength(0);
      expect((await t.knex('machines').where({ id: fx.ids[0] }).first()).health).toBe('failed');
      fx.clock.advance(HOUR);
      await fx.health.sweeper.sweep({ site: 'HS-1', requestedBy: 'test' });
      expect(await openIncidents(t.knex, fx.ids[0]!)).toHaveLength(1);
    } finally {
      fleet.instances[0]!.setHealth({ kind: 'drive', drive: 'SATA Bay 1', state: 'ok' });
    }
  });
});
