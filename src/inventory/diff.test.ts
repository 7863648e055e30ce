import { diffMachine, diffNics, diffRack, diffSite, type MachineSpec, type NicSpec } from './diff.js';

const nic = (over: Partial<NicSpec> = {}): NicSpec => ({
  name: 'eno1', mac: 'aa:bb:cc:dd:ee:01', pxe: true, switch: 'sw1', switch_port: 'Eth1/1',
  ipv4: { address: '10.0.0.10', prefix: 24, gateway: '10.0.0.1' }, ...over,
});

const machine = (over: Partial<MachineSpec> = {}): MachineSpec => ({
  serial: 'S1', asset_tag: null, vendor: 'Dell', model: 'R650', hardware_profile: 'dell-r650-128g',
  site: 'MA-NOU1', rack: 'A01', rack_unit: 10,
  bmc: { protocol: 'redfish', host: '127.0.0.1', port: 18001, username: 'root', password: 'calvin', tls: 'insecure', system_id: null },
  nics: [nic()],
  ...over,
});

describe('diffMachine', () => {
  it('reports nothing for an identical machine', () => {
    expect(diffMachine(machine(), machine())).toEqual([]);
  });

  it('keeps the stored password when the desired one is absent', () => {
    const desired = machine();
    desired.bmc = { ...desired.bmc, password: undefined };
    expect(diffMachine(machine(), desired)).toEqual([]);
  });

  it('names changed scalar, BMC and NIC fields without printing values', () => {
    const desired = machine({ rack_unit: 11, nics: [nic({ pxe: false, ipv4: null })] });
    desired.bmc = { ...desired.bmc, password: 'new-secret', port: 443 };
    const fields = diffMachine(machine(), desired);
    expect(fields).toEqual(['rack_unit', 'bmc.port', 'bmc.password', 'nics[aa:bb:cc:dd:ee:01].pxe', 'nics[aa:bb:cc:dd:ee:01].ipv4']);
    expect(fields.join(' ')).not.toContain('new-secret');
    expect(fields.join(' ')).not.toContain('calvin');
  });

  it('treats undefined and null optional fields as equal', () => {
    const desired = machine({ asset_tag: undefined as unknown as null });
    expect(diffMachine(machine(), desired)).toEqual([]);
  });
});

describe('diffNics', () => {
  it('matches NICs by MAC regardless of order and reports additions and removals', () => {
    const a = nic();
    const b = nic({ name: 'eno2', mac: 'aa:bb:cc:dd:ee:02', ipv4: null });
    const c = nic({ name: 'eno3', mac: 'aa:bb:cc:dd:ee:03', ipv4: null });
    expect(diffNics([a, b], [b, a])).toEqual([]);
    expect(diffNics([a, b], [a, c])).toEqual(['nics[aa:bb:cc:dd:ee:03] (added)', 'nics[aa:bb:cc:dd:ee:02] (removed)']);
  });
});

describe('diffSite / diffRack', () => {
  it('compares every mutable field', () => {
    const site = { code: 'MA-NOU1', name: 'Nouacer', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca', delivery_window_hours: 24 };
    expect(diffSite(site, { ...site })).toEqual([]);
    expect(diffSite(site, { ...site, delivery_window_hours: 12, city: 'Casablanca' })).toEqual(['city', 'delivery_window_hours']);
    const rack = { site: 'MA-NOU1', name: 'A01', row: 'A', height_u: 42 };
    expect(diffRack(rack, { ...rack, row: null })).toEqual(['row']);
  });
});
