/**
 * Orders benchmark (issue 5 item 8): 200 orders for 200 simulated machines, on SQLite and on
 * PostgreSQL. Each machine is a Redfish simulator with a simulated server that does real DHCP,
 * TFTP (the 850 KB iPXE binary) and HTTP against Anvil's boot role on loopback, with zero install
 * time, so the time from "order accepted" to "delivered" is Anvil's own overhead (allocation,
 * BMC calls, boot services, workflow steps and their polling) plus the simulated wire traffic.
 *
 *   node --import ./test/support/ts-register.mjs bench/orders-200.ts                     # SQLite
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
 *     node --import ./test/support/ts-register.mjs bench/orders-200.ts                   # both
 *   ORDERS=50 ... (smaller run)
 *
 * Prints one JSON line per database: accepted orders/s through the API (POST /api/v1/orders,
 * 32 concurrent clients) with the worker idle and while it delivers, and p50/p95/max of
 * delivered_at − created_at. Simulators, boot role, worker and API share this one process.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createApp } from '../src/api/app.js';
import { buildRuntime, buildWorker } from '../src/cli/runtime.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { SecretBox } from '../src/secrets/secret-box.js';
import { TokenService } from '../src/tokens/service.js';
import { startSimSite } from '../src/lab/sim-site.js';
import { createTestDatabase, type TestDatabase } from '../test/support/databases.js';

const N = Number(process.env.ORDERS ?? 200);
const CONCURRENCY = 32;
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf3hBt0i8gJ0nUJ3Kx0kXNZ3oT5b8Q7t8n0yYx2ZQ2k bench@anvil';

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function runOn(dialect: 'sqlite' | 'postgres'): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'anvil-bench-orders-'));
  const db: TestDatabase = await createTestDatabase(dialect, dialect === 'sqlite' ? { file: join(dir, 'anvil.sqlite') } : {});
  const logger = createLogger({ level: 'error' });
  const secrets = new SecretBox(randomBytes(32));
  const config = loadConfig({ env: {}, flags: { dataDir: dir } });
  const machineErrors: string[] = [];
  const site = await startSimSite({ knex: db.knex, secrets, logger, count: N, installMs: 0, tftpBlksize: Number(process.env.TFTP_BLKSIZE ?? 8192), onEvent: (e) => { hist[e.event] = (hist[e.event] ?? 0) + 1; if (e.event === 'error') machineErrors.push(`${e.serial}: ${e.detail}`); } });
  const hist: Record<string, number> = {};
  if (process.env.BENCH_DEBUG) setInterval(async () => console.error(JSON.stringify(hist), JSON.stringify(await db.knex('machine_events').select('event').count({ n: '*' }).groupBy('event')), JSON.stringify(await db.knex('workflows').select('step_index').count({ n: '*' }).groupBy('step_index'))), 3000).unref();
  const rt = buildRuntime({ config, knex: db.knex, secrets });
  const worker = buildWorker(rt, logger, { pxeMs: 30_000, installMs: 60_000, firstBootMs: 30_000, pollMs: 100 });
  const stop = new AbortController();
  const runningRef: { p: Promise<void> } = { p: Promise.resolve() };
  const app = createApp({ knex: db.knex, secrets, logger, services: { inventory: rt.inventory, orders: rt.orders, lifecycle: rt.lifecycle, machines: rt.machines } });
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = (await new TokenService({ knex: db.knex }).create({ name: 'bench', role: 'pipeline' }, { name: 'bench' })).token;
  const post = async (prefix: string, profile: string): Promise<{ ids: string[]; seconds: number }> => {
    let next = 0;
    const ids: string[] = [];
    const t = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < N; i = next++) {
          const res = await fetch(`${url}/api/v1/orders`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': `bench-${prefix}-${i}` },
            body: JSON.stringify({ external_id: `${prefix}-${i}`, customer_id: `c${i}`, contact_email: `c${i}@example.com`, hardware_profile: profile, country: 'MA', os_image: 'debian-12', hostname: `b${i}`, ssh_keys: [SSH_KEY], support_tier: 'managed', paid_at: new Date().toISOString() }),
          });
          const body = (await res.json()) as { id?: string };
          if (res.status !== 201 && res.status !== 200) throw new Error(`order ${i}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
          ids.push(body.id!);
        }
      }),
    );
    return { ids, seconds: (performance.now() - t) / 1000 };
  };
  try {
    // Phase 1, the API alone (worker idle): orders for a profile no machine has, then cancelled.
    const apiOnly = await post('A', 'bench-no-such-profile');
    for (const id of apiOnly.ids) await rt.orders.cancelOrder(id, { name: 'bench' }, 'benchmark phase 1');
    // Phase 2, the whole pipeline: the worker delivers while orders arrive.
    if (process.env.BENCH_YIELD) {
      // Diagnosis aid: yield to I/O between provisioner passes (see docs/benchmarks/orders.md).
      const tick = worker.provisioner.tick.bind(worker.provisioner);
      worker.provisioner.tick = async () => {
        await new Promise((r) => setImmediate(r));
        return tick();
      };
    }
    runningRef.p = worker.provisioner.run(stop.signal, 50);
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
    const rows = (await db.knex('orders').whereNotNull('delivered_at').where('external_id', 'like', 'B-%').select('created_at', 'delivered_at')) as { created_at: string | Date; delivered_at: string | Date }[];
    const overhead = rows.map((r) => (new Date(r.delivered_at).getTime() - new Date(r.created_at).getTime()) / 1000).sort((a, b) => a - b);
    const failed = await db.knex('machines').where({ provision_state: 'failed' }).count({ n: '*' }).first();
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
    };
  } finally {
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
