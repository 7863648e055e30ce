/**
 * In-process cost of the packet path without sockets: decode DISCOVER → reservation handler →
 * encode OFFER, 2000 reservations, 100 distinct clients, relayed (giaddr set).
 *
 *   node --import ./test/support/ts-register.mjs bench/dhcp-codec.ts [iterations]
 */
import { cpus, loadavg } from 'node:os';
import { ReservationHandler } from '../src/boot/dhcp/reservation-handler.js';
import { resolveDhcpConfig } from '../src/boot/dhcp/config.js';
import { InMemoryBootLookup, type Reservation } from '../src/boot/lookup.js';
import { decodePacket, encodePacket, newPacket, macToChaddr, macOf, BOOTREQUEST } from '../src/boot/dhcp/packet.js';
import { DhcpOptions } from '../src/boot/dhcp/options.js';
import { systemClock } from '../src/clock.js';

const N = Number(process.argv[2] ?? 200_000);
const reservations: Reservation[] = Array.from({ length: 2000 }, (_, i) => ({
  machineId: `m${i}`, mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
  hostname: `h${i}`, siteCode: 'S', ipv4: `10.30.${1 + (i >> 8)}.${1 + (i & 255)}`, prefixLength: 16,
  gateway: '10.30.0.254', dnsServers: ['10.30.0.53'], domain: 'bench.example', leaseSeconds: 3600, pxe: true,
}));
const handler = new ReservationHandler({
  config: resolveDhcpConfig({ mode: 'authoritative', listen: { address: '10.30.0.2' }, httpBaseUrl: 'http://10.30.0.2', subnets: [{ site: 'S', network: '10.30.0.0/16' }] }),
  lookup: new InMemoryBootLookup(reservations),
  events: { record() {} },
  store: { recordLease() {}, recordDiscovered() {}, flush: async () => {} },
  clock: systemClock,
});
const wires = reservations.slice(0, 100).map((r) => encodePacket(newPacket({
  op: BOOTREQUEST, xid: 1, chaddr: macToChaddr(r.mac), giaddr: '10.30.0.1',
  options: DhcpOptions.from([[53, Buffer.from([1])], [55, Buffer.from([1, 3, 6, 15, 28, 51])], [60, Buffer.from('PXEClient:Arch:00007:UNDI:003016')], [93, Buffer.from([0, 7])]]),
})));
let answered = 0;
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  const p = decodePacket(wires[i % wires.length]!);
  const r = handler.handle({ packet: p, mac: macOf(p), via: 'dhcp', source: { address: '10.30.0.1', port: 67 } });
  if (r.action === 'reply') {
    encodePacket(r.packet);
    answered++;
  }
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`${N} DISCOVER→OFFER in ${seconds.toFixed(2)} s: ${(N / seconds).toFixed(0)}/s, ${((seconds / N) * 1e6).toFixed(1)} µs each (${answered} answered; ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(1)})`);
