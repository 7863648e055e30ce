/**
 * DHCP throughput under a rising offered rate: Anvil vs ISC Kea (and dnsmasq), side by side.
 *
 *   node --import ./test/support/ts-register.mjs bench/dhcp-perf.ts [--rates 500,1000,2000,4000,8000]
 *        [--seconds 6] [--clients 2000] [--servers anvil,kea,dnsmasq]
 *
 * Needs root (network namespaces). Namespaces on one bridge: one per server (anvil 10.30.0.2,
 * kea 10.30.0.3, dnsmasq 10.30.0.4, all /16, all running throughout), and `cli` (10.30.0.1/16)
 * runs perfdhcp, which acts as a relay (giaddr 10.30.0.1) and unicasts to the server, so this measures the relayed path. perfdhcp draws every exchange's
 * MAC from a list of `--clients` MACs (-M); every server has a host reservation for each of them.
 * A "completed exchange" is a DISCOVER-OFFER-REQUEST-ACK; drops are perfdhcp's lost packets over
 * both halves. Servers are started only inside the namespaces and stopped by PID.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Reservation } from '../src/boot/lookup.js';
import { createLan, netnsUnavailableReason, stopProcess, type Lan } from '../test/support/netns.js';
import { startAnvilDhcp, tempDir, type AnvilDhcpChild } from '../test/integration/boot/dhcp-harness.js';

interface Options {
  rates: number[];
  seconds: number;
  clients: number;
  servers: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { rates: [500, 1000, 2000, 4000, 8000], seconds: 6, clients: 2000, servers: ['anvil', 'kea', 'dnsmasq'] };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--rates': o.rates = v.split(',').map(Number); break;
      case '--seconds': o.seconds = Number(v); break;
      case '--clients': o.clients = Number(v); break;
      case '--servers': o.servers = v.split(','); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return o;
}

interface Row {
  server: string;
  rate: number;
  sent: number;
  acks: number;
  perSecond: number;
  drops: number;
  dropPct: number;
  p50ms: number | null;
}

const opts = parseArgs(process.argv.slice(2));
const skip = netnsUnavailableReason();
if (skip) {
  console.error(`cannot run: ${skip}`);
  process.exit(2);
}

const loadBefore = loadavg()[0]!;
const dir = tempDir('dhcp-bench');
const macs: string[] = [];
const reservations: Reservation[] = [];
for (let i = 0; i < opts.clients; i++) {
  const mac = `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  const ip = `10.30.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
  macs.push(mac);
  reservations.push({ machineId: `bench-${i}`, mac, hostname: `bench-${i}`, siteCode: 'BENCH', ipv4: ip, prefixLength: 16, gateway: '10.30.0.254', dnsServers: ['10.30.0.53'], domain: 'bench.example', leaseSeconds: 3600, pxe: true });
}
const macFile = join(dir.path, 'macs.txt');
writeFileSync(macFile, macs.join('\n') + '\n');

let lan: Lan | null = null;
const rows: Row[] = [];
const stops: Array<() => Promise<void>> = [];
try {
  const addresses: Record<string, string> = { anvil: '10.30.0.2', kea: '10.30.0.3', dnsmasq: '10.30.0.4' };
  lan = await createLan('dhbench', [
    ...opts.servers.map((name) => ({ name, ip: `${addresses[name]}/16` })),
    { name: 'cli', ip: '10.30.0.1/16' },
  ]);
  // Every server runs for the whole benchmark, each in its own namespace; the rates are
  // interleaved (all servers at 500/s, then all at 1000/s, …) so that load from other work on
  // the machine falls on all of them alike.
  for (const server of opts.servers) stops.push(await startServer(lan, server, addresses[server]!));
  for (const rate of opts.rates) {
    for (const server of opts.servers) rows.push(await runPerfdhcp(lan, server, rate, addresses[server]!));
  }
} finally {
  for (const stop of stops) await stop().catch(() => undefined);
  await lan?.destroy();
  dir.remove();
}

console.log(`\nDHCP four-way exchanges (relayed, ${opts.clients} reserved clients, ${opts.seconds} s per step; ${cpus().length} CPUs, 1-min load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after)\n`);
console.log('| server | offered/s | sent DISCOVERs | completed (ACKs) | completed/s | drops | drop % | avg DORA ms |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.server} | ${r.rate} | ${r.sent} | ${r.acks} | ${r.perSecond.toFixed(0)} | ${r.drops} | ${r.dropPct.toFixed(1)} | ${r.p50ms?.toFixed(2) ?? '-'} |`);
}

async function startServer(lan: Lan, server: string, address: string): Promise<() => Promise<void>> {
  if (server === 'anvil') {
    const child: AnvilDhcpChild = await startAnvilDhcp(lan, server, {
      config: {
        mode: 'authoritative',
        listen: { interface: lan.ifname, address },
        httpBaseUrl: `http://${address}:8080`,
        subnets: [{ site: 'BENCH', network: '10.30.0.0/16', leaseSeconds: 3600 }],
      },
      reservations,
      logLevel: 'warn',
    }, dir.path);
    return async () => {
      const stats = await child.stop();
      console.error(`anvil counters: ${JSON.stringify(stats)}`);
    };
  }
  let child: ChildProcess;
  if (server === 'kea') {
    const conf = join(dir.path, 'kea.json');
    writeFileSync(conf, JSON.stringify({
      Dhcp4: {
        'interfaces-config': { interfaces: [lan.ifname], 'dhcp-socket-type': 'udp' },
        'lease-database': { type: 'memfile', persist: false },
        'host-reservation-identifiers': ['hw-address'],
        'valid-lifetime': 3600,
        'option-data': [{ name: 'domain-name-servers', data: '10.30.0.53' }, { name: 'domain-name', data: 'bench.example' }],
        subnet4: [{
          id: 1,
          subnet: '10.30.0.0/16',
          'option-data': [{ name: 'routers', data: '10.30.0.254' }],
          reservations: reservations.map((r) => ({ 'hw-address': r.mac, 'ip-address': r.ipv4, hostname: r.hostname })),
        }],
        loggers: [{ name: 'kea-dhcp4', severity: 'WARN', output_options: [{ output: 'stderr' }] }],
      },
    }));
    child = lan.spawn(server, 'kea-dhcp4', ['-c', conf], { env: { ...process.env, KEA_PIDFILE_DIR: dir.path, KEA_LOCKFILE_DIR: dir.path } });
  } else if (server === 'dnsmasq') {
    const hosts = join(dir.path, 'dnsmasq.hosts');
    writeFileSync(hosts, reservations.map((r) => `${r.mac},${r.ipv4},${r.hostname}`).join('\n') + '\n');
    child = lan.spawn(server, 'dnsmasq', [
      '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--user=root', `--interface=${lan.ifname}`, '--bind-interfaces',
      '--dhcp-range=10.30.0.0,static,255.255.0.0,1h', `--dhcp-hostsfile=${hosts}`, '--dhcp-authoritative', '--no-ping',
      '--leasefile-ro', '--dhcp-lease-max=1000000', '--dhcp-option=3,10.30.0.254', '--dhcp-option=6,10.30.0.53',
      `--pid-file=${join(dir.path, 'dnsmasq.pid')}`, '--quiet-dhcp',
    ]);
  } else {
    throw new Error(`unknown server ${server}`);
  }
  let log = '';
  child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  await new Promise((r) => setTimeout(r, 1500));
  if (child.exitCode !== null) throw new Error(`${server} exited: ${log}`);
  return () => stopProcess(child);
}

async function runPerfdhcp(lan: Lan, server: string, rate: number, address: string): Promise<Row> {
  const r = await lan.exec('cli', 'perfdhcp', ['-4', '-r', String(rate), '-p', String(opts.seconds), '-W', '500000', '-M', macFile, '-l', '10.30.0.1', '-d', '1', address], {
    timeoutMs: (opts.seconds + 20) * 1000,
  });
  const out = r.stdout + r.stderr;
  const sections = out.split(/\*\*\*Statistics for: /).slice(1);
  const stat = (name: RegExp) => sections.find((s) => name.test(s.split('\n')[0] ?? '')) ?? '';
  const num = (s: string, re: RegExp) => Number(re.exec(s)?.[1] ?? 0);
  const dora = stat(/DISCOVER-OFFER/);
  const rr = stat(/REQUEST-ACK/);
  const sent = num(dora, /sent packets: (\d+)/);
  const acks = num(rr, /received packets: (\d+)/);
  const drops = num(dora, /drops: (\d+)/) + num(rr, /drops: (\d+)/);
  const p50a = /avg delay: ([\d.]+) ms/.exec(dora)?.[1];
  const p50b = /avg delay: ([\d.]+) ms/.exec(rr)?.[1];
  const row: Row = {
    server,
    rate,
    sent,
    acks,
    perSecond: acks / opts.seconds,
    drops,
    dropPct: sent ? (100 * drops) / (sent * 2) : 0,
    p50ms: p50a && p50b ? Number(p50a) + Number(p50b) : null,
  };
  if (!sent) console.error(`perfdhcp against ${server} at ${rate}/s produced no statistics:\n${out}`);
  console.error(`${server} @ ${rate}/s: ${acks} ACKs, ${drops} drops`);
  return row;
}
