import { randomBytes } from 'node:crypto';
import { BmcOperationQueue } from '../../../src/bmc/serialize.js';
import { BmcRegistry } from '../../../src/bmc/registry.js';
import { createHealthServices, type HealthServices } from '../../../src/health/services.js';
import { InventoryService } from '../../../src/inventory/service.js';
import { Notifier } from '../../../src/notifications/outbox.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';
import { startIpmiSim, type IpmiSim, type SimSensor } from '../../../src/lab/ipmi-sim.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';

/**
 * Health sweeps through the real IPMI lanplus driver against OpenIPMI's ipmi_sim: an SDR sensor
 * driven past its critical threshold is found, opens a major incident with the customer's tier
 * deadlines and a notification, and resolves after two healthy sweeps.
 */

const USER = 'anvil';
const PASSWORD = 'correct-horse';
const SENSORS: SimSensor[] = [
  { number: 0x01, name: 'CPU1 Temp', type: 'temperature', thresholds: { unc: 80, uc: 90, unr: 100 }, value: 45 },
  { number: 0x02, name: 'FAN1', type: 'fan', m: 50, thresholds: { lnc: 20, lc: 10 }, value: 100 },
];
const HOUR = 3_600_000;

describe.each(testDatabases())('health sweeps with ipmi_sim on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  let sim: IpmiSim;
  let health: HealthServices;
  let registry: BmcRegistry;
  let machineId = '';

  beforeAll(async () => {
    sim = await startIpmiSim({ user: USER, password: PASSWORD, power: 'on', sensors: SENSORS });
    const secrets = new SecretBox(randomBytes(32));
    const inventory = new InventoryService({ knex: t.knex, secrets });
    await inventory.createSite({ code: 'IP-1', name: 'IPMI', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca' }, { name: 'test' });
    const m = await inventory.createMachine(
      { serial: 'IP-M0', hardware_profile: 'p', site: 'IP-1', bmc: { protocol: 'ipmi', host: '127.0.0.1', port: sim.port, username: USER, password: PASSWORD }, nics: [{ name: 'eno1', mac: '52:54:00:aa:bb:01', pxe: true }] },
      { name: 'test' },
    );
    machineId = m.id;
    const ts = new Date().toISOString();
    await t.knex('orders').insert({
      id: 'o-ipmi', idempotency_key: 'o-ipmi', request_hash: 'h', external_id: 'ext', customer_id: 'cust-ipmi', contact_email: 'c@example.com',
      hardware_profile: 'p', country: 'MA', os_image: 'debian-12', hostname: 'h', support_tier: 'fully_managed', status: 'delivered', machine_id: machineId,
      paid_at: ts, deadline_at: ts, created_by: 'test', created_at: ts, updated_at: ts,
    });
    await t.knex('machines').where({ id: machineId }).update({ provision_state: 'active', order_id: 'o-ipmi' });
    registry = new BmcRegistry({ queue: new BmcOperationQueue(), timeoutMs: 10_000, readRetries: 1 });
    health = createHealthServices({
      knex: t.knex, secrets, drivers: registry, owner: 'ipmi-test', endpointFor: (id) => inventory.getBmcEndpoint(id),
      notifier: new Notifier({ webhook: { url: 'http://127.0.0.1:9/hook', secret: 'y'.repeat(32) } }, secrets),
      settings: { machineBudgetMs: 20_000 },
    });
  }, 30_000);

  afterAll(async () => {
    await registry?.closeAll();
    await sim?.stop();
  });

  it('a first sweep reads the sensors, chassis bits and SEL and finds the machine healthy', async () => {
    const sweep = await health.sweeper.sweep({ site: 'IP-1', requestedBy: 'test' });
    expect(sweep).toMatchObject({ status: 'done', total: 1, errors: 0 });
    const components = await t.knex('machine_components').where({ machine_id: machineId }).pluck('component');
    expect(components).toEqual(expect.arrayContaining(['bmc', 'power', 'chassis:power', 'sensor:CPU1 Temp', 'sensor:FAN1', 'log:sel', 'log:new-entries']));
    expect((await t.knex('machines').where({ id: machineId }).first()).health).toBe('ok');
  });

  it('a CPU sensor past its critical threshold opens one major incident with fully managed deadlines', async () => {
    await sim.setSensor(0x01, 95, { event: true });
    await health.sweeper.sweep({ site: 'IP-1', requestedBy: 'test' });
    const open = await t.knex('incidents').where({ machine_id: machineId }).whereNot('status', 'resolved');
    // The SEL event about the same sensor is covered by the sensor's incident.
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ component: 'sensor:CPU1 Temp', severity: 'major', support_tier: 'fully_managed', customer_id: 'cust-ipmi' });
    const opened = Date.parse(new Date(open[0].opened_at).toISOString());
    expect(Date.parse(new Date(open[0].process_by).toISOString()) - opened).toBe(0.5 * HOUR);
    expect(Date.parse(new Date(open[0].resolve_by).toISOString()) - opened).toBe(2 * HOUR);
    expect(await t.knex('notifications').where({ subject_id: open[0].id, event: 'incident.opened' })).toHaveLength(1);
    const sensor = await t.knex('machine_components').where({ machine_id: machineId, component: 'sensor:CPU1 Temp' }).first();
    expect(sensor).toMatchObject({ status: 'critical', reading_unit: 'Cel' });
    expect(Number(sensor.reading_value)).toBe(95);
    expect((await t.knex('machines').where({ id: machineId }).first()).health).toBe('failed');
  });

  it('resolves after two healthy sweeps', async () => {
    await sim.setSensor(0x01, 45);
    await health.sweeper.sweep({ site: 'IP-1', requestedBy: 'test' });
    expect(await t.knex('incidents').where({ machine_id: machineId, status: 'open' })).toHaveLength(1);
    await health.sweeper.sweep({ site: 'IP-1', requestedBy: 'test' });
    expect(await t.knex('incidents').where({ machine_id: machineId }).whereNot('status', 'resolved')).toHaveLength(0);
    expect((await t.knex('machines').where({ id: machineId }).first()).health).toBe('ok');
  });

  it('an active customer server found powered off is a major incident (machine down)', async () => {
    sim.setPower('off');
    try {
      await health.sweeper.sweep({ site: 'IP-1', requestedBy: 'test' });
      const open = await t.knex('incidents').where({ machine_id: machineId, component: 'power' }).whereNot('status', 'resolved');
      expect(open).toHaveLength(1);
      expect(open[0].severity).toBe('major');
    } finally {
      sim.setPower('on');
    }
  });
});
