import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createLogger } from '../../src/log.js';
import { OrderService } from '../../src/orders/orders.js';
import { packageRoot } from '../../src/paths.js';
import { deployWorkflow, type DeployDeps } from '../../src/provisioning/workflows/deploy.js';
import { SecretBox } from '../../src/secrets/secret-box.js';
import { startSimSite, type SimSite } from '../../src/lab/sim-site.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from './databases.js';
import { tsNodeArgs } from './ts-child.js';
import { pollUntil } from './wait.js';

/**
 * The crash tests' fixture: a database, a site of simulated servers with the boot role in this
 * process, and worker processes (test/support/lab-worker-child.ts) that a test starts and kills.
 */

/** The deploy workflow's steps in order: `workflows.step_index` indexes this (building it calls nothing). */
export const DEPLOY_STEPS: readonly string[] = deployWorkflow({} as DeployDeps).steps.map((s) => s.name);

/** A worker-role process started by a test. */
export interface WorkerProcess {
  child: ChildProcess;
  /** Its name in leases and workflow history. */
  owner: string;
  pid: number;
  exited: Promise<number | null>;
}

export interface CrashSite {
  readonly db: TestDatabase;
  readonly site: SimSite;
  /** Starts a worker process on the database; resolves once it runs (stopped after the tests). */
  startWorker(): Promise<WorkerProcess>;
  /** Places one order for the simulated site; returns its id. */
  placeOrder(externalId: string): Promise<string>;
}

/** Registers beforeAll/afterAll hooks for a crash test with `count` machines. */
export function useCrashSite(dialect: TestDialect, opts: { count: number; leaseSeconds: number; installMs: number }): CrashSite {
  const key = randomBytes(32);
  const workers: WorkerProcess[] = [];
  let dir: string | null = null;
  let db: TestDatabase | undefined;
  let site: SimSite | undefined;
  beforeAll(async () => {
    // SQLite: a file, so that worker processes share it.
    if (dialect === 'sqlite') dir = mkdtempSync(join(tmpdir(), 'anvil-crash-'));
    db = await createTestDatabase(dialect, dir ? { file: join(dir, 'anvil.sqlite') } : {});
    site = await startSimSite({ knex: db.knex, secrets: new SecretBox(key), logger: createLogger({ level: 'warn' }), count: opts.count, installMs: opts.installMs });
  });
  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await site?.stop();
    await db?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    get db() {
      return db!;
    },
    get site() {
      return site!;
    },
    async startWorker() {
      const w = await startWorkerProcess({ databaseUrl: db!.url, secretKey: key, leaseSeconds: opts.leaseSeconds, installMs: opts.installMs });
      workers.push(w);
      return w;
    },
    async placeOrder(externalId) {
      const { order } = await new OrderService({ knex: db!.knex }).createOrder(
        { external_id: externalId, customer_id: `c-${externalId}`, contact_email: 'c@example.com', hardware_profile: 'sim-64g', country: 'MA', os_image: 'debian-12', hostname: externalId.toLowerCase(), ssh_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf3hBt0i8gJ0nUJ3Kx0kXNZ3oT5b8Q7t8n0yYx2ZQ2k t@x'], support_tier: 'managed', paid_at: new Date().toISOString() },
        `${externalId}-${randomBytes(3).toString('hex')}`,
        { name: 'test' },
      );
      return order.id;
    },
  };
}

function startWorkerProcess(env: { databaseUrl: string; secretKey: Buffer; leaseSeconds: number; installMs: number }): Promise<WorkerProcess> {
  const child = spawn(process.execPath, tsNodeArgs('test/support/lab-worker-child.ts'), {
    cwd: packageRoot,
    env: { ...process.env, DATABASE_URL: env.databaseUrl, ANVIL_SECRET_KEY: env.secretKey.toString('base64'), LEASE_SECONDS: String(env.leaseSeconds), INSTALL_MS: String(env.installMs), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      const msg = JSON.parse(line) as { owner: string; pid: number };
      resolve({ child, owner: msg.owner, pid: msg.pid, exited });
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before it was ready`)));
  });
}

/**
 * Waits (at most 60 s) until every order is delivered and its workflow finished (the deliver step
 * commits the order before the runner records the workflow as finished), then checks each was
 * delivered exactly once: distinct machines, one delivery audit row and one succeeded workflow per
 * order, and no workflow step done twice.
 */
export async function expectDeliveredOnce(db: TestDatabase, ids: string[]): Promise<void> {
  let rows: { id: string; status: string; machine_id: string }[] = [];
  await pollUntil(async () => {
    rows = await db.knex('orders').whereIn('id', ids).select('id', 'status', 'machine_id');
    const live = await db.knex('workflows').whereIn('order_id', ids).whereIn('status', ['pending', 'running']).count({ n: '*' }).first();
    return rows.every((r) => r.status === 'delivered') && Number(live!.n) === 0;
  }, 60_000, 200);
  expect(rows.map((r) => r.status)).toEqual(Array(ids.length).fill('delivered'));
  expect(new Set(rows.map((r) => r.machine_id)).size).toBe(ids.length);
  expect(Number((await db.knex('orders').count({ n: '*' }).first())!.n)).toBe(ids.length);
  const deliveries = (await db.knex('audit_log').where({ action: 'order.deliver' }).pluck('target_id')) as string[];
  expect(deliveries.sort()).toEqual([...ids].sort());
  expect(await db.knex('workflows').whereIn('order_id', ids).whereNot({ status: 'succeeded' }).select('id', 'status', 'last_error')).toEqual([]);
  const succeeded = (await db.knex('workflows').where({ kind: 'deploy', status: 'succeeded' }).pluck('order_id')) as string[];
  expect(succeeded.sort()).toEqual([...ids].sort());
  const doneTwice = await db.knex('workflow_steps').where({ outcome: 'done' }).groupBy('workflow_id', 'step_index').having(db.knex.raw('count(*) > 1')).select('workflow_id', 'step_index');
  expect(doneTwice).toEqual([]);
}
