/**
 * One health sweep over N simulated Redfish BMCs (public-rackmount1, session auth), each answering
 * every request after LATENCY_MS (default 50 ms), at concurrency 64 (default), through the real
 * path: Sweeper → BmcRegistry (serialised drivers) → Redfish driver → simulator; results, current
 * components, machine health and incidents written to a SQLite file database.
 *
 * The fleet runs in a child process (its own event loop and core), so the parent's wall time and
 * peak RSS are Anvil's. Reported: wall time of a cold sweep (sessions are created) and of a warm
 * one, HTTP requests the simulators served, the ideal (requests × latency ÷ concurrency), the
 * ratio, peak RSS of the sweeping process, and errors (machines reported unknown).
 *
 * Run from the package root (no build; TypeScript is transpiled on load):
 *   node --import ./test/support/ts-register.mjs bench/sweep-1000.ts                  # 1,000 BMCs
 *   MACHINES=10000 node --import ./test/support/ts-register.mjs bench/sweep-1000.ts   # 10,000 BMCs
 * Env: MACHINES (1000), LATENCY_MS (50), CONCURRENCY (64), HTTPS (1; 0 = plain HTTP), SWEEPS (2).
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BmcOperationQueue } from '../src/bmc/serialize.js';
import { BmcRegistry } from '../src/bmc/registry.js';
import { createRedfishDriver } from '../src/bmc/redfish/driver.js';
import { connect, migrateLatest } from '../src/db/connect.js';
import { createHealthServices } from '../src/health/services.js';
import { startRedfishSimFleet } from '../src/lab/redfish-sim/index.js';
import { SecretBox } from '../src/secrets/secret-box.js';

const MACHINES = Number(process.env.MACHINES ?? 1000);
const LATENCY_MS = Number(process.env.LATENCY_MS ?? 50);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 64);
const HTTPS = (process.env.HTTPS ?? '1') !== '0';
const SWEEPS = Number(process.env.SWEEPS ?? 2);

interface FleetInfo {
  ports: number[];
  tls: string;
  username: string;
  password: string;
}

/** Child: the simulated fleet. Answers `stats` with the total requests served, exits on `stop`. */
async function serveFleet(): Promise<void> {
  const fleet = await startRedfishSimFleet({ count: MACHINES, https: HTTPS });
  for (const sim of fleet.instances) {
    // Start from a healthy fleet (the mockup ships a Warning drive and PSU), then slow every request.
    sim.setHealth({ kind: 'drive', drive: 'SATA Bay 2', state: 'ok' });
    sim.setHealth({ kind: 'psu', index: 0, state: 'ok' });
    if (LATENCY_MS > 0) sim.injectFault({ kind: 'latency', ms: LATENCY_MS });
  }
  const e = fleet.endpoint(0);
  const info: FleetInfo = { ports: fleet.instances.map((s) => s.port), tls: e.tls, username: e.username, password: e.password };
  process.stdout.write(`${JSON.stringify(info)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'stats') {
      const requests = fleet.instances.reduce((n, s) => n + s.stats.requests, 0);
      const maxConcurrent = fleet.instances.reduce((n, s) => Math.max(n, s.stats.maxConcurrent), 0);
      process.stdout.write(`${JSON.stringify({ requests, maxConcurrent })}\n`);
    } else if (line === 'stop') {
      break;
    }
  }
  await fleet.stop();
  process.exit(0);
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, [...process.execArgv.filter((a) => !a.startsWith('--max-old-space-size')), fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const nextLine = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done) throw new Error('fleet process ended');
    return r.value as string;
  };
  const fleetStarted = Date.now();
  const fleet = JSON.parse(await nextLine()) as FleetInfo;
  const fleetMs = Date.now() - fleetStarted;
  const stats = async (): Promise<{ requests: number; maxConcurrent: number }> => {
    child.stdin!.write('stats\n');
    return JSON.parse(await nextLine()) as { requests: number; maxConcurrent: number };
  };

  const dir = mkdtempSync(join(tmpdir(), 'anvil-bench-sweep-'));
  const knex = connect({ dialect: 'sqlite', location: join(dir, 'anvil.sqlite') });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  try {
    await migrateLatest(knex);
    const secrets = new SecretBox(randomBytes(32));
    const ts = new Date().toISOString();
    await knex('sites').insert({ id: 'site-b', code: 'BENCH', name: 'Bench', country: 'MA', city: 'Nouacer', timezone: 'UTC', created_at: ts, updated_at: ts });
    const sealed = secrets.seal(fleet.password);
    const pin = fleet.tls.startsWith('sha256:') ? fleet.tls.slice(7) : null;
    const machines = fleet.ports.map((_, i) => ({
      id: `m-${String(i).padStart(5, '0')}`, serial: `B${String(i).padStart(5, '0')}`, hardware_profile: 'bench', site_id: 'site-b',
      provision_state: 'available', health: 'unknown', maintenance: false, created_at: ts, updated_at: ts,
    }));
    const bmcs = fleet.ports.map((port, i) => ({
      machine_id: machines[i]!.id, protocol: 'redfish', host: '127.0.0.1', port, username: fleet.username, password_enc: sealed,
      tls_mode: pin ? 'fingerprint' : 'insecure', tls_fingerprint: pin, created_at: ts, updated_at: ts,
    }));
    await knex.batchInsert('machines', machines, 200);
    await knex.batchInsert('machine_bmcs', bmcs, 200);

    // Plain HTTP needs the driver told so (real BMCs are HTTPS; the endpoint has no scheme field).
    const registry = new BmcRegistry({ queue: new BmcOperationQueue(), ...(HTTPS ? {} : { factories: { redfish: (e) => createRedfishDriver(e, { scheme: 'http' }) } }) });
    const health = createHealthServices({ knex, secrets, drivers: registry, owner: 'bench', settings: { concurrency: CONCURRENCY, machineBudgetMs: 60_000 } });
    const baseRss = process.memoryUsage().rss;
    console.log(`node ${process.version}, ${cpus().length} cores (load ${loadavg()[0]!.toFixed(2)}), ${MACHINES} simulated Redfish BMCs over ${HTTPS ? 'HTTPS (pinned certificate)' : 'HTTP'} in a child process (started in ${(fleetMs / 1000).toFixed(1)} s), ${LATENCY_MS} ms per request, concurrency ${CONCURRENCY}, SQLite file database`);
    console.log(`RSS before sweeping: ${(baseRss / 2 ** 20).toFixed(0)} MiB\n`);
    console.log('| sweep | machines | errors | HTTP requests | req/machine | ideal (req × latency ÷ concurrency) | wall | wall ÷ ideal | peak RSS |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (let s = 0; s < SWEEPS; s++) {
      const before = await stats();
      const started = Date.now();
      let shown = 0;
      const sweep = await health.sweeper.sweep({
        site: 'BENCH',
        requestedBy: 'bench',
        // Progress on stderr every 10 %, so a long run shows its rate (and a killed one its last).
        onProgress: (p) => {
          if (p.done * 10 >= (shown + 1) * p.total) {
            shown = Math.floor((p.done * 10) / p.total);
            process.stderr.write(`  ${p.done}/${p.total} after ${((Date.now() - started) / 1000).toFixed(1)} s, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB\n`);
          }
        },
      });
      const wallMs = Date.now() - started;
      const after = await stats();
      const requests = after.requests - before.requests;
      const idealMs = (requests * LATENCY_MS) / CONCURRENCY;
      console.log(
        `| ${s === 0 ? 'cold (sessions created)' : 'warm'} | ${sweep.done}/${sweep.total} | ${sweep.errors} | ${requests} | ${(requests / MACHINES).toFixed(1)} | ${(idealMs / 1000).toFixed(1)} s | ${(wallMs / 1000).toFixed(1)} s | ${(wallMs / idealMs).toFixed(2)}× | ${(peakRss / 2 ** 20).toFixed(0)} MiB |`,
      );
    }
    const failure = await knex('machine_components').where({ component: 'bmc' }).whereNot('status', 'ok').first('message');
    if (failure) console.log(`\nERRORS: machines were not checked, e.g.: ${String(failure.message)}`);
    const [{ n: results }] = await knex('health_results').count({ n: '*' });
    const byHealth = await knex('machines').groupBy('health').select('health').count({ n: '*' });
    console.log(`\nhealth_results rows: ${String(results)}; machines by health: ${byHealth.map((r: Record<string, unknown>) => `${String(r.health)}=${String(r.n)}`).join(', ')}`);
    console.log(`max concurrent requests on one simulated BMC: ${(await stats()).maxConcurrent} (the per-BMC queue keeps it at the driver's fan-out)`);
    await registry.closeAll();
  } finally {
    clearInterval(sampler);
    child.stdin!.write('stop\n');
    await knex.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--serve')) {
  void serveFleet();
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
