import { createDbBootLookup, DbBootEventSink } from '../../../src/boot/lookup.js';
import { DbDhcpStore } from '../../../src/boot/dhcp/store.js';
import { toIso, json } from '../../../src/db/sql.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';

const NOW = '2026-01-01T12:00:00.000Z';
const subnets = [
  { site: 'MA-NOU1', network: '10.20.0.0/24', gateway: '10.20.0.1', dns: ['10.20.0.53'], domain: 'nou1.example', leaseSeconds: 7200 },
];

describe.each(testDatabases())('boot lookup and boot writers on %s', (dialect) => {
  const t = useTestDatabase(dialect);

  beforeAll(async () => {
    const k = t.knex;
    await k('sites').insert({ id: 's1', code: 'MA-NOU1', name: 'Nouacer', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca', created_at: NOW, updated_at: NOW });
    await k('machines').insert([
      { id: 'm1', serial: 'SRV 0001/A', hardware_profile: 'p1', site_id: 's1', created_at: NOW, updated_at: NOW },
      { id: 'm2', serial: 'SRV-0002', hardware_profile: 'p1', site_id: 's1', created_at: NOW, updated_at: NOW },
    ]);
    await k('nics').insert([
      { id: 'n1', machine_id: 'm1', mac: '52:54:00:aa:00:01', name: 'eno1', pxe: true, ipv4_address: '10.20.0.11', ipv4_prefix: null, ipv4_gateway: null, created_at: NOW, updated_at: NOW },
      { id: 'n2', machine_id: 'm1', mac: '52:54:00:aa:00:02', name: 'eno2', pxe: false, ipv4_address: null, created_at: NOW, updated_at: NOW },
      { id: 'n3', machine_id: 'm2', mac: '52:54:00:aa:00:03', name: 'eno1', pxe: true, ipv4_address: '192.168.7.5', ipv4_prefix: 25, ipv4_gateway: '192.168.7.1', created_at: NOW, updated_at: NOW },
    ]);
  });

  it('loads NICs with an address as reservations, filling prefix, gateway, DNS and lease from the subnet', async () => {
    const lookup = createDbBootLookup(t.knex, { subnets });
    await lookup.start();
    await lookup.stop();
    expect(lookup.size).toBe(2);
    expect(lookup.byMac('52-54-00-AA-00-01')).toEqual({
      machineId: 'm1', mac: '52:54:00:aa:00:01', hostname: 'srv-0001-a', siteCode: 'MA-NOU1', ipv4: '10.20.0.11', prefixLength: 24,
      gateway: '10.20.0.1', dnsServers: ['10.20.0.53'], domain: 'nou1.example', leaseSeconds: 7200, pxe: true,
    });
    expect(lookup.byIp('192.168.7.5')).toMatchObject({ machineId: 'm2', prefixLength: 25, gateway: '192.168.7.1', dnsServers: [], leaseSeconds: 3600 });
    expect(lookup.byMac('52:54:00:aa:00:02')).toBeNull();
    expect(lookup.byMac('52:54:00:ff:ff:ff')).toBeNull();
  });

  it('serves only its own site\'s machines when the boot role is restricted to a site (anvil serve --site)', async () => {
    const own = createDbBootLookup(t.knex, { subnets, site: 'MA-NOU1' });
    await own.start();
    await own.stop();
    expect(own.size).toBe(2);
    const other = createDbBootLookup(t.knex, { subnets, site: 'CA-MTL1' });
    await other.start();
    await other.stop();
    expect(other.size).toBe(0);
    expect(other.byMac('52:54:00:aa:00:01')).toBeNull();
  });

  it('stop resolves only after a refresh in progress has finished (so the caller may close the database)', async () => {
    const lookup = createDbBootLookup(t.knex, { subnets });
    await lookup.start();
    let refreshed = false;
    const running = lookup.refresh(true).then(() => { refreshed = true; });
    await lookup.stop();
    expect(refreshed).toBe(true);
    await running;
  });

  it('reloads only when the change marker moves, including on deletion', async () => {
    const lookup = createDbBootLookup(t.knex, { subnets });
    await lookup.start();
    await lookup.stop();
    expect(await lookup.refresh()).toBe(false);
    await t.knex('nics').where({ id: 'n2' }).update({ ipv4_address: '10.20.0.12', updated_at: new Date().toISOString() });
    expect(await lookup.refresh()).toBe(true);
    expect(lookup.byMac('52:54:00:aa:00:02')).toMatchObject({ ipv4: '10.20.0.12', pxe: false });
    await t.knex('nics').where({ id: 'n2' }).delete();
    expect(await lookup.refresh()).toBe(true);
    expect(lookup.byMac('52:54:00:aa:00:02')).toBeNull();
  });

  it('reloads on refresh(true) even when the marker did not move (a writer with a slow clock)', async () => {
    const lookup = createDbBootLookup(t.knex, { subnets });
    await lookup.start();
    await lookup.stop();
    await t.knex('nics').where({ id: 'n3' }).update({ ipv4_address: '192.168.7.6', updated_at: '2025-01-01T00:00:00.000Z' });
    expect(await lookup.refresh()).toBe(false);
    expect(await lookup.refresh(true)).toBe(true);
    expect(lookup.byIp('192.168.7.6')).toMatchObject({ machineId: 'm2' });
  });

  it('writes boot events, leases (last state wins) and discovered MACs in batches', async () => {
    const events = new DbBootEventSink(t.knex, { now: () => new Date(NOW) });
    events.record('m1', 'pxe_seen', { arch: 0 });
    events.record('gone', 'dhcp_ack', {});
    events.record('m1', 'dhcp_ack', { ip: '10.20.0.11' });
    await events.close();
    expect(await t.knex('machine_events').where({ machine_id: 'gone' })).toEqual([]);
    const rows = await t.knex('machine_events').where({ machine_id: 'm1' }).orderBy('id');
    expect(rows.map((r: { event: string; detail: string; at: unknown }) => [r.event, json.read(r.detail, {}), toIso(r.at)])).toEqual([
      ['pxe_seen', { arch: 0 }, NOW],
      ['dhcp_ack', { ip: '10.20.0.11' }, NOW],
    ]);

    const store = new DbDhcpStore(t.knex);
    const exp = new Date('2026-11-26T14:00:00.000Z');
    store.recordLease({ mac: '52:54:00:aa:00:01', machineId: 'm1', ip: '10.20.0.11', expiresAt: exp, state: 'offered' });
    store.recordLease({ mac: '52:54:00:aa:00:01', machineId: 'm1', ip: '10.20.0.11', expiresAt: exp, state: 'bound' });
    store.recordDiscovered({ mac: '52:54:00:ee:00:01', vendorClass: 'PXEClient', clientArch: 7, relayAddress: null, siteCode: 'MA-NOU1' });
    store.recordDiscovered({ mac: '52:54:00:ee:00:01', vendorClass: 'PXEClient', clientArch: 7, relayAddress: null, siteCode: 'MA-NOU1' });
    await store.flush();
    store.recordDiscovered({ mac: '52:54:00:ee:00:01', vendorClass: 'PXEClient', clientArch: 7, relayAddress: null, siteCode: 'MA-NOU1' });
    store.recordLease({ mac: '52:54:00:aa:00:01', machineId: 'm1', ip: '10.20.0.11', expiresAt: exp, state: 'released' });
    await store.flush();
    const lease = await t.knex('dhcp_leases').where({ mac: '52:54:00:aa:00:01' }).first();
    expect({ ...lease, expires_at: toIso(lease.expires_at) }).toMatchObject({ machine_id: 'm1', ip: '10.20.0.11', state: 'released', expires_at: exp.toISOString() });
    const seen = await t.knex('discovered_macs').where({ mac: '52:54:00:ee:00:01' }).first();
    expect(Number(seen.seen_count)).toBe(3);
    expect(Number(seen.client_arch)).toBe(7);
  });
});
