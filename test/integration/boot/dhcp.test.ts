import { jest } from '@jest/globals';
import type { DhcpConfig } from '../../../src/boot/dhcp/config.js';
import { createTestDatabase, type TestDatabase } from '../../support/databases.js';
import { createLan, netnsUnavailableReason, type Lan } from '../../support/netns.js';
import { startAnvilDhcp, tempDir, udhcpcScript, waitFor, type AnvilDhcpChild } from './dhcp-harness.js';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';

/**
 * Anvil's authoritative DHCP server (a child process in its own namespace, inventory in a SQLite
 * file) against real clients (busybox udhcpc, ISC dhclient) in other namespaces on one bridge.
 */
const skip = netnsUnavailableReason();
if (skip) console.warn(`skipping DHCP namespace tests: ${skip}`);
const d = skip ? describe.skip : describe;

const KNOWN = '52:54:00:aa:00:01';
const IPXE = '52:54:00:aa:00:02';
const DHCLIENT = '52:54:00:aa:00:03';
const UNKNOWN = '52:54:00:ee:ee:01';
const NOW = '2026-11-26T12:00:00.000Z';

d('Anvil DHCP server with real clients in network namespaces', () => {
  jest.setTimeout(60_000);
  let lan: Lan;
  let db: TestDatabase;
  let server: AnvilDhcpChild;
  const dir = tempDir('dhcp-it');

  beforeAll(async () => {
    db = await createTestDatabase('sqlite', { file: join(dir.path, 'anvil.sqlite') });
    const k = db.knex;
    await k('sites').insert({ id: 's1', code: 'MA-NOU1', name: 'Nouacer', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca', created_at: NOW, updated_at: NOW });
    for (const [i, mac] of [KNOWN, IPXE, DHCLIENT].entries()) {
      await k('machines').insert({ id: `m${i + 1}`, serial: `SRV-000${i + 1}`, hardware_profile: 'p1', site_id: 's1', created_at: NOW, updated_at: NOW });
      await k('nics').insert({ id: `n${i + 1}`, machine_id: `m${i + 1}`, mac, name: 'eno1', pxe: true, ipv4_address: `10.20.0.${11 + i}`, ipv4_prefix: 24, ipv4_gateway: '10.20.0.1', created_at: NOW, updated_at: NOW });
    }
    lan = await createLan('dhcp', [
      { name: 'srv', ip: '10.20.0.2/24' },
      { name: 'pxe', mac: KNOWN },
      { name: 'ipxe', mac: IPXE },
      { name: 'dhcl', mac: DHCLIENT },
      { name: 'unk', mac: UNKNOWN },
    ]);
    const config: DhcpConfig = {
      mode: 'authoritative',
      listen: { interface: 'eth0', address: '10.20.0.2' },
      httpBaseUrl: 'http://10.20.0.2:8080',
      discovery: true,
      subnets: [{ site: 'MA-NOU1', network: '10.20.0.0/24', dns: ['10.20.0.53'], domain: 'nou1.example', leaseSeconds: 7200 }],
    };
    server = await startAnvilDhcp(lan, 'srv', { config, databaseUrl: db.url }, dir.path);
  });

  afterAll(async () => {
    await server?.stop();
    await lan?.destroy();
    await db?.destroy();
    dir.remove();
  });

  function udhcpc(member: string, tag: string, extra: string[]) {
    const s = udhcpcScript(dir.path, tag);
    const run = lan.exec(member, 'udhcpc', ['-i', lan.ifname, '-f', '-q', '-n', '-t', '3', '-T', '1', '-A', '1', '-s', s.script, '-O', 'bootfile', '-O', 'tftp', ...extra], { timeoutMs: 20_000 });
    return { run, read: s.read };
  }

  it('gives a BIOS PXE client (udhcpc) its reserved address, network options, next-server and undionly.kpxe', async () => {
    const c = udhcpc('pxe', 'pxe', ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']);
    const result = await c.run;
    expect(result.code).toBe(0);
    const env = c.read();
    expect(env).toMatchObject({
      ip: '10.20.0.11',
      subnet: '255.255.255.0',
      router: '10.20.0.1',
      dns: '10.20.0.53',
      domain: 'nou1.example',
      hostname: 'srv-0001',
      serverid: '10.20.0.2',
      lease: '7200',
      siaddr: '10.20.0.2',
      boot_file: 'undionly.kpxe',
      bootfile: 'undionly.kpxe',
      tftp: '10.20.0.2',
    });
  });

  it('records the bound lease and the pxe_seen and dhcp_ack events in the database', async () => {
    const lease = await waitFor(() => db.knex('dhcp_leases').where({ mac: KNOWN, state: 'bound' }).first(), 5000, 'the bound lease row');
    expect(lease).toMatchObject({ machine_id: 'm1', ip: '10.20.0.11' });
    const events = await waitFor(async () => {
      const rows = (await db.knex('machine_events').where({ machine_id: 'm1' }).orderBy('id')) as Array<{ event: string }>;
      return rows.some((r) => r.event === 'dhcp_ack') ? rows : null;
    }, 5000, 'machine events');
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['pxe_seen', 'dhcp_ack']));
  });

  it('gives a client with user class iPXE (bare bytes) the HTTP URL of its script instead of the iPXE binary', async () => {
    const c = udhcpc('ipxe', 'ipxe', ['-V', 'PXEClient:Arch:00007:UNDI:003016', '-x', '0x5d:0007', '-x', '0x4d:69505845']);
    expect((await c.run).code).toBe(0);
    expect(c.read()).toMatchObject({ ip: '10.20.0.12', boot_file: `http://10.20.0.2:8080/boot/ipxe?mac=${IPXE}` });
  });

  it('serves ISC dhclient its reserved address', async () => {
    const out = join(dir.path, 'dhclient.env');
    const script = join(dir.path, 'dhclient.sh');
    writeFileSync(script, `#!/bin/sh\ncase "$reason" in BOUND|RENEW|REBOOT) env > ${out}.tmp && mv ${out}.tmp ${out};; esac\nexit 0\n`, { mode: 0o755 });
    const conf = join(dir.path, 'dhclient.conf');
    writeFileSync(conf, 'timeout 15;\nretry 1;\nrequest subnet-mask, routers, domain-name-servers, host-name, domain-name;\n');
    // -d keeps it in the foreground, so destroy() can kill it by PID once it has bound.
    const child = lan.spawn('dhcl', 'dhclient', ['-4', '-d', '-1', '-sf', script, '-cf', conf, '-lf', join(dir.path, 'dhclient.leases'), '-pf', join(dir.path, 'dhclient.pid'), lan.ifname]);
    let log = '';
    child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const env = await waitFor(async () => {
      const { readFileSync, existsSync } = await import('node:fs');
      if (!existsSync(out)) return null;
      return Object.fromEntries(readFileSync(out, 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    }, 20_000, `dhclient to bind (log: ${log})`);
    child.kill('SIGTERM');
    expect(env).toMatchObject({ new_ip_address: '10.20.0.13', new_subnet_mask: '255.255.255.0', new_routers: '10.20.0.1', new_host_name: 'srv-0003' });
  });

  it('stays silent for a MAC that is not in inventory, counts it, and records it for technicians', async () => {
    const before = await server.stats();
    const c = udhcpc('unk', 'unk', ['-t', '2']);
    const result = await c.run;
    expect(result.code).not.toBe(0);
    expect(c.read()).toBeNull();
    const after = await server.stats();
    expect(after.ignored_unknown).toBeGreaterThanOrEqual(before.ignored_unknown + 2);
    const row = await waitFor(() => db.knex('discovered_macs').where({ mac: UNKNOWN }).first(), 5000, 'the discovered MAC row');
    expect(Number(row.seen_count)).toBeGreaterThanOrEqual(1);
    expect(row.site_code).toBe('MA-NOU1');
  });

  it('picks up an inventory change without a restart', async () => {
    await db.knex('nics').where({ mac: UNKNOWN }).delete();
    await db.knex('machines').insert({ id: 'm9', serial: 'SRV-0009', hardware_profile: 'p1', site_id: 's1', created_at: NOW, updated_at: new Date().toISOString() });
    await db.knex('nics').insert({ id: 'n9', machine_id: 'm9', mac: UNKNOWN, name: 'eno1', pxe: true, ipv4_address: '10.20.0.19', ipv4_prefix: 24, created_at: NOW, updated_at: new Date().toISOString() });
    // The child polls the change marker every 500 ms; udhcpc's retries cover that window.
    const c = udhcpc('unk', 'unk2', ['-t', '5']);
    expect((await c.run).code).toBe(0);
    expect(c.read()).toMatchObject({ ip: '10.20.0.19' });
  });

  it('refuses to start a second server on the same port 67 in the same namespace', async () => {
    const config: DhcpConfig = { mode: 'authoritative', listen: { interface: 'eth0', address: '10.20.0.2' }, httpBaseUrl: 'http://10.20.0.2:8080', subnets: [] };
    await expect(startAnvilDhcp(lan, 'srv', { config, reservations: [] }, dir.path)).rejects.toThrow(/EADDRINUSE/);
  });

  it('survives garbage on port 67 and counts it as malformed', async () => {
    const before = await server.stats();
    await lan.addAddress('pxe', '10.20.0.200/24');
    const r = await lan.exec('pxe', process.execPath, ['-e', `
      const s = require('node:dgram').createSocket('udp4');
      s.bind(0, () => { s.setBroadcast(true);
        const bufs = [Buffer.alloc(10), Buffer.alloc(300, 0xff), Buffer.concat([Buffer.from([1,1,6,0]), Buffer.alloc(232), Buffer.from([99,130,83,99,53,9,1])])];
        let n = 0; for (const b of bufs) s.send(b, 67, '10.20.0.2', (e) => { if (e) process.exit(3); if (++n === bufs.length) s.close(); });
      });`], { timeoutMs: 10_000 });
    expect(r.code).toBe(0);
    const after = await waitFor(async () => {
      const s = await server.stats();
      return s.dropped_malformed >= before.dropped_malformed + 3 ? s : null;
    }, 5000, 'malformed counter');
    expect(after.received).toBeGreaterThanOrEqual(before.received + 3);
    // Still answering afterwards.
    const c = udhcpc('pxe', 'pxe-again', []);
    expect((await c.run).code).toBe(0);
  });
});
