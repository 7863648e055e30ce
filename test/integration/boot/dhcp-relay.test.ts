import { jest } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Reservation } from '../../../src/boot/lookup.js';
import { createLan, netnsUnavailableReason, type Lan } from '../../support/netns.js';
import { startAnvilDhcp, tempDir, type AnvilDhcpChild } from './dhcp-harness.js';

/**
 * The relayed path: Kea's perfdhcp acts as a relay agent (giaddr = its address, unicast to the
 * server) and completes DISCOVER-OFFER-REQUEST-ACK exchanges; Anvil must answer to giaddr:67.
 */
const skip = netnsUnavailableReason();
if (skip) console.warn(`skipping DHCP relay namespace test: ${skip}`);
const d = skip ? describe.skip : describe;

d('Anvil DHCP behind a relay agent (perfdhcp)', () => {
  jest.setTimeout(60_000);
  let lan: Lan;
  let server: AnvilDhcpChild;
  const dir = tempDir('dhcp-relay-it');
  const macs = Array.from({ length: 20 }, (_, i) => `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`);

  beforeAll(async () => {
    lan = await createLan('dhrelay', [
      { name: 'srv', ip: '10.30.0.2/16' },
      { name: 'relay', ip: '10.30.0.1/16' },
    ]);
    const reservations: Reservation[] = macs.map((mac, i) => ({
      machineId: `m${i}`, mac, hostname: `h${i}`, siteCode: 'S', ipv4: `10.30.1.${i + 1}`, prefixLength: 16,
      gateway: null, dnsServers: [], domain: null, leaseSeconds: 600, pxe: false,
    }));
    server = await startAnvilDhcp(lan, 'srv', {
      config: { mode: 'authoritative', listen: { interface: 'eth0', address: '10.30.0.2' }, httpBaseUrl: 'http://10.30.0.2', subnets: [{ site: 'S', network: '10.30.0.0/16' }] },
      reservations,
    }, dir.path);
  });

  afterAll(async () => {
    await server?.stop();
    await lan?.destroy();
    dir.remove();
  });

  it('completes every four-way exchange relayed through giaddr', async () => {
    const macFile = join(dir.path, 'macs.txt');
    writeFileSync(macFile, macs.join('\n') + '\n');
    const r = await lan.exec('relay', 'perfdhcp', ['-4', '-r', '20', '-n', '40', '-W', '1000000', '-M', macFile, '-l', '10.30.0.1', '-d', '2', '10.30.0.2'], { timeoutMs: 30_000 });
    const out = r.stdout + r.stderr;
    const acks = /REQUEST-ACK[\s\S]*?received packets: (\d+)/.exec(out)?.[1];
    expect(Number(acks)).toBe(40);
    const stats = await server.stats();
    expect(stats.answered).toBe(80);
    expect(stats.naks).toBe(0);
  });

  it('does not answer a relay whose giaddr is outside every configured subnet', async () => {
    await lan.addAddress('relay', '10.40.0.1/16');
    await lan.addAddress('srv', '10.40.0.2/16');
    const before = await server.stats();
    const macFile = join(dir.path, 'macs.txt');
    const r = await lan.exec('relay', 'perfdhcp', ['-4', '-r', '10', '-n', '5', '-M', macFile, '-l', '10.40.0.1', '-d', '1', '10.40.0.2'], { timeoutMs: 30_000 });
    expect(/DISCOVER-OFFER[\s\S]*?received packets: (\d+)/.exec(r.stdout + r.stderr)?.[1]).toBe('0');
    const after = await server.stats();
    expect(after.dropped_foreign).toBe(before.dropped_foreign + 5);
    expect(after.answered).toBe(before.answered);
  });
});
