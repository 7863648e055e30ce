import { execFileSync } from 'node:child_process';
import { testDatabases } from '../../support/databases.js';
import { useApi, SITE } from '../api/harness.js';
import { startIpmiSim, type IpmiSim } from '../../../src/lab/ipmi-sim.js';
import { defaultBmcRegistry } from '../../../src/bmc/registry.js';

const USER = 'admin';
const PASSWORD = 'ipmi-Pa55word';

function ipmitool(sim: IpmiSim, ...args: string[]): string {
  return execFileSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(sim.port), '-U', USER, '-P', PASSWORD, ...args], { encoding: 'utf8', timeout: 20_000 });
}

describe.each(testDatabases())('machine BMC operations through the API on %s', (dialect) => {
  const api = useApi(dialect);
  let sim: IpmiSim;
  let id: string;

  beforeAll(async () => {
    sim = await startIpmiSim({ user: USER, password: PASSWORD, power: 'off', fru: { product: { manufacturer: 'Supermicro', name: 'SYS-1029P', serial: 'SMC-0001' } } });
    expect((await api.call('post', '/api/v1/sites', { body: SITE })).status).toBe(201);
    const created = await api.call('post', '/api/v1/machines', {
      body: {
        serial: 'SMC-0001', hardware_profile: 'smc-x12-64g', site: SITE.code,
        bmc: { protocol: 'ipmi', host: '127.0.0.1', port: sim.port, username: USER, password: PASSWORD, tls: 'verify' },
        nics: [{ name: 'eno1', mac: '52:54:00:aa:00:01', pxe: true }],
      },
    });
    expect(created.status).toBe(201);
    id = created.json.id;
  }, 30_000);

  afterAll(async () => {
    await defaultBmcRegistry.closeAll();
    await sim?.stop();
  });

  it('verifies an enrolled machine (enrolled → available) when the BMC accepts the credentials', async () => {
    const res = await api.call('post', `/api/v1/machines/${id}/verify`, { role: 'technician' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ provision_state: 'available', last_error: null });
    expect((await api.call('get', `/api/v1/machines/${id}`)).json.provision_state).toBe('available');
  });

  it('powers on through the API and ipmitool agrees; a change made by ipmitool is seen by Anvil', async () => {
    const on = await api.call('post', `/api/v1/machines/${id}/power`, { role: 'technician', body: { action: 'on' } });
    expect(on.status).toBe(200);
    expect(on.json.power_state).toBe('on');
    expect(ipmitool(sim, 'chassis', 'power', 'status')).toMatch(/Chassis Power is on/);
    ipmitool(sim, 'chassis', 'power', 'off');
    const status = await api.call('get', `/api/v1/machines/${id}/power`, { role: 'viewer' });
    expect(status.json.power_state).toBe('off');
    const audit = await api.call('get', `/api/v1/audit?target_id=${id}&action=machine.power.on`);
    expect(audit.json.items).toHaveLength(1);
  });

  it('sets PXE as the next boot device (ipmitool reads it back) and refuses viewers', async () => {
    expect((await api.call('post', `/api/v1/machines/${id}/boot-device`, { role: 'viewer', body: { device: 'pxe' } })).status).toBe(403);
    const res = await api.call('post', `/api/v1/machines/${id}/boot-device`, { role: 'technician', body: { device: 'pxe', persistent: false, mode: 'uefi' } });
    expect(res.status).toBe(200);
    expect(ipmitool(sim, 'chassis', 'bootparam', 'get', '5')).toMatch(/Force PXE/);
  });

  it('inspects the machine and stores the FRU facts', async () => {
    const res = await api.call('post', `/api/v1/machines/${id}/inspect`, { role: 'technician' });
    expect(res.status).toBe(200);
    expect(res.json.hardware).toMatchObject({ vendor: 'Supermicro', model: 'SYS-1029P', serial: 'SMC-0001' });
    expect(res.json.inspected_at).not.toBeNull();
  });

  it('refuses bad input with 400 naming the field, and reports a dead BMC as 504 bmc_unreachable', async () => {
    const bad = await api.call('post', `/api/v1/machines/${id}/power`, { role: 'technician', body: { action: 'explode' } });
    expect(bad.status).toBe(400);
    expect(bad.json.error.details[0].field).toBe('action');
    await sim.stop();
    const dead = await api.call('get', `/api/v1/machines/${id}/power`);
    expect(dead.status).toBe(504);
    expect(dead.json.error.code).toBe('bmc_unreachable');
  }, 30_000);
});
