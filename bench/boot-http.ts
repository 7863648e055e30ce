/**
 * Boot HTTP throughput: what serving a per-machine iPXE script and answer file costs (a token
 * rotation = one UPDATE, a render, an event) next to a plain node:http server returning the same
 * pre-rendered script (the ceiling for Node HTTP on this host). Loopback, keep-alive, fixed
 * concurrency, each case for a fixed time.
 *
 *   node --import ./test/support/ts-register.mjs bench/boot-http.ts [seconds-per-case] [concurrency]
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?schema=bench_boot … (default: a temp SQLite file)
 */
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { connect, migrateLatest, parseDatabaseUrl } from '../src/db/connect.js';
import { DeploymentService } from '../src/boot/deployments.js';
import { DbBootEventSink, InMemoryBootLookup, type Reservation } from '../src/boot/lookup.js';
import { createBootHttpServer } from '../src/boot/http/server.js';
import { OsImageConfig, TemplateStore } from '../src/boot/http/templates.js';

const SECONDS = Number(process.argv[2] ?? 3);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const MACHINES = 200;

const dir = mkdtempSync(join(tmpdir(), 'anvil-bench-boot-'));
const target = parseDatabaseUrl(process.env.DATABASE_URL ?? `sqlite:${join(dir, 'bench.sqlite')}`);
const knex = connect(target);
await migrateLatest(knex);
const now = new Date().toISOString();
await knex('sites').insert({ id: 's1', code: 'B', name: 'Bench', country: 'MA', city: 'x', timezone: 'UTC', created_at: now, updated_at: now });
const reservations: Reservation[] = [];
for (let i = 0; i < MACHINES; i++) {
  const mac = `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  await knex('machines').insert({ id: `m${i}`, serial: `S${i}`, hardware_profile: 'p', site_id: 's1', created_at: now, updated_at: now });
  await knex('nics').insert({ id: `n${i}`, machine_id: `m${i}`, mac, name: 'eno1', pxe: true, ipv4_address: `10.30.${i >> 8}.${(i & 255) + 1}`, ipv4_prefix: 16, created_at: now, updated_at: now });
  reservations.push({ machineId: `m${i}`, mac, hostname: `h${i}`, siteCode: 'B', ipv4: `10.30.${i >> 8}.${(i & 255) + 1}`, prefixLength: 16, gateway: '10.30.0.1', dnsServers: ['10.30.0.53'], domain: 'bench.example', leaseSeconds: 3600, pxe: true });
}
const images = new Map([['rocky-9', OsImageConfig.parse({ name: 'rocky-9', family: 'rhel', kernel_url: 'http://m/k', initrd_url: 'http://m/i', repo_url: 'http://m/r/' })]]);
const deployments = new DeploymentService(knex);
for (let i = 0; i < MACHINES; i++) {
  await deployments.createDeployment(`m${i}`, { kind: 'install', os_image: 'rocky-9', hostname: `h${i}`, ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@bench'], root_password_hash: '$6$abcdefgh12345678$hH3FjZZkD.RuGmIukoJ6X1/ojxI7Q6oXs70HmGNrON9WfqbLQ0xd/ksJZ6H.4WbnNfveboF8T745gOj/MOnsv.' });
}
const events = new DbBootEventSink(knex);
const boot = createBootHttpServer(
  { host: '127.0.0.1', port: 0 },
  { deployments, lookup: new InMemoryBootLookup(reservations), events, templates: new TemplateStore(), images, baseUrl: 'http://10.30.0.2:8080', logger: pino({ level: 'silent' }), knex },
);
const bootPort = (await boot.start()).port;

// Tokens for the answer-file case: one script per machine.
const tokens: string[] = [];
for (const r of reservations) {
  const body = await (await fetch(`http://127.0.0.1:${bootPort}/boot/ipxe?mac=${r.mac}`)).text();
  tokens.push(/\/boot\/config\/([A-Za-z0-9_-]{43})\//.exec(body)![1]!);
}
const staticBody = await (await fetch(`http://127.0.0.1:${bootPort}/boot/ipxe?mac=${reservations[0]!.mac}`)).text();
const plain = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(staticBody) });
  res.end(staticBody);
});
await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
const plainPort = (plain.address() as AddressInfo).port;

async function measure(name: string, port: number, path: (i: number) => string): Promise<void> {
  const agent = new Agent({ connections: CONCURRENCY, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        const i = n++;
        const t0 = process.hrtime.bigint();
        const res = await request(`http://127.0.0.1:${port}${path(i)}`, { dispatcher: agent });
        await res.body.text();
        if (res.statusCode !== 200) errors++;
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  await agent.close();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(2);
  console.log(`| ${name} | ${(latencies.length / SECONDS).toFixed(0)} | ${q(0.5)} | ${q(0.99)} | ${errors} |`);
}

console.log(`boot-http bench: ${target.dialect}, ${MACHINES} machines, concurrency ${CONCURRENCY}, ${SECONDS} s per case, ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}`);
console.log('| case | req/s | p50 ms | p99 ms | errors |');
console.log('|---|---|---|---|---|');
await measure('plain node:http, static script (ceiling)', plainPort, () => '/');
await measure('GET /boot/ipxe, unknown MAC (no DB)', bootPort, (i) => `/boot/ipxe?mac=02:ff:00:00:00:${(i & 255).toString(16).padStart(2, '0')}`);
await measure('GET /boot/ipxe, install intent (token rotation + render + event)', bootPort, (i) => `/boot/ipxe?mac=${reservations[i % MACHINES]!.mac}`);
// The rotation above invalidated the tokens collected earlier; collect fresh ones.
tokens.length = 0;
for (const r of reservations) {
  const body = await (await fetch(`http://127.0.0.1:${bootPort}/boot/ipxe?mac=${r.mac}`)).text();
  tokens.push(/\/boot\/config\/([A-Za-z0-9_-]{43})\//.exec(body)![1]!);
}
await measure('GET /boot/config/:token/ks.cfg (token lookup + render + event)', bootPort, (i) => `/boot/config/${tokens[i % MACHINES]}/ks.cfg`);

await boot.stop();
await new Promise<void>((r) => plain.close(() => r()));
await events.close();
await knex.destroy();
rmSync(dir, { recursive: true, force: true });
