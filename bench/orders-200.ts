/**
 * Orders benchmark (issue 5 item 8): 200 orders for 200 simulated machines, on SQLite and on
 * PostgreSQL. Each machine is a Redfish simulator with a simulated server that does real DHCP,
 * TFTP (the 850 KB iPXE binary) and HTTP against Anvil's boot role on loopback, with zero install
 * time, so the time from "order accepted" to "delivered" is Anvil's own overhead (allocation,
 * BMC calls, boot services, workflow steps) plus the simulated firmware (300 ms per boot, two
 * boots) and wire traffic.
 *
 *   node --import ./test/support/ts-register.mjs bench/orders-200.ts                     # SQLite
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
 *     node --import ./test/support/ts-register.mjs bench/orders-200.ts                   # both
 *   DIALECTS=postgres ...                                                                 # one
 *
 * Anvil runs as `anvil serve` would run it, in this process: API, worker and boot role, with the
 * boot role's activity waking the worker. The simulated BMCs and servers run in a worker thread
 * of their own (their CPU is not Anvil's); SIM_INPROCESS=1 puts them on Anvil's thread as well.
 * So do the order pipeline's 32 HTTP clients (bench/orders-client-thread.ts); CLIENT_INPROCESS=1
 * puts them on Anvil's thread, as runs before 2026-11-26 16:40 UTC did. BOOT_THREAD=1 runs the boot
 * role in a thread with its own database connection, reaching the worker only through the database
 * and its change signals: the split topology of a boot-only process beside an api+worker process.
 * Product settings an operator would choose, from the environment (defaults: the product's):
 *   TFTP_MAX_BLKSIZE    boot.tftp.max_blksize (1468 = 1500-byte MTU; the simulated ROMs ask 8192,
 *                       as on a jumbo-frame boot network)
 *   WORKER_CONCURRENCY  worker.concurrency (32)
 *   PG_POOL             PostgreSQL pool size (10)
 *   POLL_MS             how often waiting steps look again without a wake-up (2000)
 * ORDERS=50 for a smaller run. Diagnosis: BENCH_DEBUG=1 (progress every 3 s, then where each
 * order's time went, by step, and the simulated servers' side), BENCH_SQL=1 (statements by total
 * time, as knex reports them: on SQLite a step's record and history row, run by sqliteAtomically
 * below knex, are not among them), BENCH_CPUPROF=PATH (a CPU profile of Anvil's thread while delivering), BENCH_CPUPROF_API=PATH
 * (the same for the API-alone phase).
 *
 * Prints one JSON line per database: accepted orders/s through the API (POST /api/v1/orders,
 * 32 concurrent clients) with the worker idle and while it delivers, p50/p95/max of
 * delivered_at − created_at, and how long Anvil's event loop was blocked at a time.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createApp } from '../src/api/app.js';
import { buildRuntime, buildWorker } from '../src/cli/runtime.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { SecretBox } from '../src/secrets/secret-box.js';
import { TokenService } from '../src/tokens/service.js';
import { startSimSite } from '../src/lab/sim-site.js';
import { startLabThread } from '../src/lab/thread-calls.js';
import { createTestDatabase, type TestDatabase } from '../test/support/databases.js';
import { postOrders, type OrderClientJob } from './orders-client-thread.js';

const N = Number(process.env.ORDERS ?? 200);
const CONCURRENCY = 32;
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf3hBt0i8gJ0nUJ3Kx0kXNZ3oT5b8Q7t8n0yYx2ZQ2k bench@anvil';

/** CPU seconds the whole host has spent busy so far (Linux /proc/stat), or null elsewhere. */
function systemBusySeconds(): number | null {
  try {
    const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / 100;
  } catch {
    return null;
  }
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** p50/p95 of each named series, by name. */
function percentiles(spans: Record<string, number[]>): Record<string, { p50: number; p95: number }> {
  const out: Record<string, { p50: number; p95: number }> = {};
  for (const k of Object.keys(spans).sort()) {
    const v = spans[k]!.sort((a, b) => a - b);
    out[k] = { p50: pct(v, 50), p95: pct(v, 95) };
  }
  return out;
}

/**
 * Where an order's time goes (BENCH_DEBUG): per phase, p50/p95 of the time from the end of the
 * previous phase (order created → allocated → workflow created → each step's completion →
 * delivered). Waiting steps count from the previous step's end to their own completion.
 */
async function stepBreakdown(knex: TestDatabase['knex']): Promise<Record<string, { p50: number; p95: number }>> {
  const ms = (v: unknown) => new Date(v as string).getTime();
  const orders = (await knex('orders').where('external_id', 'like', 'B-%').whereNotNull('delivered_at').select('id', 'created_at', 'allocated_at', 'delivered_at')) as Record<string, unknown>[];
  const spans: Record<string, number[]> = {};
  const add = (k: string, v: number) => (spans[k] ??= []).push(v);
  for (const o of orders) {
    const wf = await knex('workflows').where({ order_id: o.id, kind: 'deploy' }).first('id', 'created_at');
    if (!wf) continue;
    add('0 accepted→allocated', ms(o.allocated_at) - ms(o.created_at));
    add('1 allocated→workflow', ms(wf.created_at) - ms(o.allocated_at));
    let prev = ms(wf.created_at);
    const steps = (await knex('workflow_steps').where({ workflow_id: wf.id, outcome: 'done' }).orderBy('id').select('step', 'step_index', 'started_at', 'finished_at')) as Record<string, unknown>[];
    for (const s of steps) {
      add(`${String(s.step_index).padStart(2, '0')} ${String(s.step)} (queue)`, ms(s.started_at) - prev);
      add(`${String(s.step_index).padStart(2, '0')} ${String(s.step)}`, ms(s.finished_at) - ms(s.started_at));
      prev = ms(s.finished_at);
    }
    add('99 last step→delivered', ms(o.delivered_at) - prev);
  }
  return percentiles(spans);
}

/** The simulated machines' side (BENCH_DEBUG): p50/p95 of the time between consecutive events. */
function simBreakdown(events: Record<string, { event: string; at: number }[]>): Record<string, { p50: number; p95: number }> {
  const spans: Record<string, number[]> = {};
  for (const list of Object.values(events)) {
    list.forEach((e, i) => {
      if (i > 0) (spans[`${String(i).padStart(2, '0')} ${list[i - 1]!.event}→${e.event}`] ??= []).push(e.at - list[i - 1]!.at);
    });
  }
  return percentiles(spans);
}

/** BENCH_CPUPROF=PATH: a CPU profile of this thread while the pipeline delivers (phase 2 only). */
async function startProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) => new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, r) => (err ? reject(err) : resolve(r))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** BENCH_SQL: statements run while the pipeline delivers (phase 2), by total time (diagnosis aid). */
function profileSql(knex: TestDatabase['knex']): { clear(): void; report(): void } {
  const started = new Map<string, number>();
  const stats = new Map<string, { n: number; ms: number }>();
  knex.on('query', (q: { __knexQueryUid: string }) => started.set(q.__knexQueryUid, performance.now()));
  knex.on('query-response', (_r: unknown, q: { __knexQueryUid: string; sql: string }) => {
    const t = started.get(q.__knexQueryUid);
    if (t === undefined) return;
    started.delete(q.__knexQueryUid);
    const s = stats.get(q.sql) ?? { n: 0, ms: 0 };
    s.n++;
    s.ms += performance.now() - t;
    stats.set(q.sql, s);
  });
  return {
    clear: () => stats.clear(),
    report() {
      const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40);
      for (const [sql, s] of rows) console.error(`${s.ms.toFixed(0).padStart(7)} ms ${String(s.n).padStart(6)}x  ${sql.slice(0, 220)}`);
      console.error(`total: ${[...stats.values()].reduce((a, s) => a + s.n, 0)} statements`);
    },
  };
}

async function runOn(dialect: 'sqlite' | 'postgres'): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-bench-orders-'));
  const db: TestDatabase = await createTestDatabase(dialect, dialect === 'sqlite' ? { file: join(dir, 'anvil.sqlite') } : { poolMax: Number(process.env.PG_POOL ?? 10) });
  const logger = createLogger({ level: 'error' });
  const sqlStats = process.env.BENCH_SQL ? profileSql(db.knex) : null;
  const secrets = new SecretBox(randomBytes(32));
  const config = loadConfig({ env: {}, flags: { dataDir: dir } });
  const machineErrors: string[] = [];
  const rt = buildRuntime({ config, knex: db.knex, secrets });
  const site = await startSimSite({ knex: db.knex, secrets, logger, count: N, installMs: 0, tftpBlksize: Number(process.env.TFTP_BLKSIZE ?? 8192), ...(process.env.TFTP_MAX_BLKSIZE ? { tftpMaxBlksize: Number(process.env.TFTP_MAX_BLKSIZE) } : {}), ...(process.env.BOOT_THREAD ? { bootThread: { target: db.target } } : { onBootActivity: rt.wakeups.machineActivity }), hardwareThread: !process.env.SIM_INPROCESS, onEvent: (e) => { hist[e.event] = (hist[e.event] ?? 0) + 1; if (process.env.BENCH_DEBUG) (simEvents[e.serial] ??= []).push({ event: `${e.event}${e.event === 'callback' ? `:${e.detail}` : e.event === 'dhcp' ? `:${e.detail.split(' ')[0]}` : ''}`, at: e.at.getTime() }); if (e.event === 'error') machineErrors.push(`${e.serial}: ${e.detail}`); } });
  const hist: Record<string, number> = {};
  const simEvents: Record<string, { event: string; at: number }[]> = {};
  if (process.env.BENCH_DEBUG) setInterval(async () => console.error(JSON.stringify(hist), JSON.stringify(await db.knex('machine_events').select('event').count({ n: '*' }).groupBy('event')), JSON.stringify(await db.knex('workflows').select('step_index').count({ n: '*' }).groupBy('step_index'))), 3000).unref();
  const worker = buildWorker(rt, logger, { pxeMs: 30_000, installMs: 60_000, firstBootMs: 30_000, ...(process.env.POLL_MS ? { pollMs: Number(process.env.POLL_MS) } : {}) }, { ...(process.env.WORKER_CONCURRENCY ? { concurrency: Number(process.env.WORKER_CONCURRENCY) } : {}) });
  const stop = new AbortController();
  const runningRef: { p: Promise<void> } = { p: Promise.resolve() };
  const app = createApp({ knex: db.knex, secrets, logger, services: { inventory: rt.inventory, orders: rt.orders, lifecycle: rt.lifecycle, machines: rt.machines } });
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = (await new TokenService({ knex: db.knex }).create({ name: 'bench', role: 'pipeline' }, { name: 'bench' })).token;
  // The order pipeline's HTTP clients run in a thread of their own (CLIENT_INPROCESS=1: on Anvil's thread).
  const clients = process.env.CLIENT_INPROCESS ? null : startLabThread(import.meta.url, 'orders-client-thread', null);
  const post = async (prefix: string, profile: string): Promise<{ ids: string[]; seconds: number }> => {
    const job: OrderClientJob = { url, token, prefix, profile, n: N, concurrency: CONCURRENCY, sshKey: SSH_KEY };
    return clients ? ((await clients.call('post', job)) as { ids: string[]; seconds: number }) : postOrders(job);
  };
  try {
    // Phase 1, the API alone (worker idle): orders for a profile no machine has, then cancelled.
    const profiler1 = process.env.BENCH_CPUPROF_API ? await startProfile() : null;
    const apiOnly = await post('A', 'bench-no-such-profile');
    if (profiler1) await profiler1.stop(`${process.env.BENCH_CPUPROF_API}.${dialect}.cpuprofile`);
    for (const id of apiOnly.ids) await rt.orders.cancelOrder(id, { name: 'bench' }, 'benchmark phase 1');
    // Phase 2, the whole pipeline: the worker delivers while orders arrive.
    const profiler = process.env.BENCH_CPUPROF ? await startProfile() : null;
    sqlStats?.clear();
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    runningRef.p = worker.provisioner.run(stop.signal);
    const cpu0 = process.cpuUsage();
    const sys0 = systemBusySeconds();
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    const { seconds: acceptSeconds } = await post('B', 'sim-64g');
    const deadline = Date.now() + 240_000;
    let delivered = 0;
    while (Date.now() < deadline) {
      delivered = Number((await db.knex('orders').where({ status: 'delivered' }).count({ n: '*' }).first())!.n);
      if (delivered >= N) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const sys1 = systemBusySeconds();
    const elu = performance.eventLoopUtilization(elu0);
    const rows = (await db.knex('orders').whereNotNull('delivered_at').where('external_id', 'like', 'B-%').select('created_at', 'delivered_at')) as { created_at: string | Date; delivered_at: string | Date }[];
    const overhead = rows.map((r) => (new Date(r.delivered_at).getTime() - new Date(r.created_at).getTime()) / 1000).sort((a, b) => a - b);
    const failed = await db.knex('machines').where({ provision_state: 'failed' }).count({ n: '*' }).first();
    loopDelay.disable();
    sqlStats?.report();
    if (profiler) await profiler.stop(`${process.env.BENCH_CPUPROF}.${dialect}.cpuprofile`);
    if (process.env.BENCH_DEBUG) console.error(JSON.stringify(await stepBreakdown(db.knex)), JSON.stringify(simBreakdown(simEvents)));
    return {
      database: dialect,
      orders: N,
      accepted_per_second_api_only: Math.round(N / apiOnly.seconds),
      accepted_per_second_while_delivering: Math.round(N / acceptSeconds),
      delivered,
      failed_machines: Number(failed!.n),
      simulated_machine_errors: machineErrors.length,
      ...(machineErrors.length ? { first_error: machineErrors[0] } : {}),
      overhead_seconds: { p50: +pct(overhead, 50).toFixed(2), p95: +pct(overhead, 95).toFixed(2), max: +pct(overhead, 100).toFixed(2) },
      all_delivered_after_seconds: +wall.toFixed(1),
      // CPU while delivering: Anvil's thread (event loop busy time) and the whole process (every
      // thread: Anvil, TFTP transfer threads, the simulated machines, the order clients).
      // `host`: every process on the machine (the PostgreSQL server's backends are the rest).
      cpu_seconds: { anvil_thread: +(elu.active / 1000).toFixed(2), process: +((cpu.user + cpu.system) / 1e6).toFixed(2), ...(sys0 !== null && sys1 !== null ? { host: +(sys1 - sys0).toFixed(2) } : {}) },
      // How long the process's event loop was blocked at a time while delivering (ms).
      event_loop_delay_ms: { p50: +(loopDelay.percentile(50) / 1e6).toFixed(1), p99: +(loopDelay.percentile(99) / 1e6).toFixed(1), max: +(loopDelay.max / 1e6).toFixed(1) },
    };
  } finally {
    await clients?.stop();
    stop.abort();
    await runningRef.p.catch(() => undefined);
    await new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
    await site.stop();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

const dialects = (process.env.DIALECTS ? process.env.DIALECTS.split(',') : process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite']) as ('sqlite' | 'postgres')[];
for (const d of dialects) console.log(JSON.stringify(await runOn(d)));
