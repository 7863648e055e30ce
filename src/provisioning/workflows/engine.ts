import { setImmediate as yieldToIo } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import { systemClock, Wakeable } from '../../clock.js';
import { ConflictError } from '../../errors.js';
import { releaseLease, renewLease, tryClaimLeaseRow } from '../../db/leases.js';
import type { WakeReason } from '../wake-events.js';
import { conflictOnDuplicate, dbNowPlus, json, toIso, updateThenInsert } from '../../db/sql.js';
import { DEFAULT_WORKER_CONCURRENCY } from '../../config/defaults.js';

export type WorkflowData = Record<string, unknown>;

export interface WorkflowRecord {
  id: string;
  kind: string;
  machineId: string;
  orderId: string | null;
  status: 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  stepIndex: number;
  stepAttempt: number;
  stepStartedAt: string | null;
  data: WorkflowData;
  nextRunAt: string;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /** Moves with every wake-up (see provisioning/wakeups.ts). */
  wakeSeq: number;
}

export interface StepContext {
  workflow: WorkflowRecord;
  /** 1-based attempt of this step. */
  attempt: number;
  /** When the current step first started (kept across waits and retries): step deadlines count from here. */
  stepStartedAt: Date;
  now: Date;
  /** Aborts when the step's time budget runs out or the lease is lost. */
  signal: AbortSignal;
  logger?: Logger;
  /**
   * Values the steps of one drive may share (a machine's BMC endpoint): the drive holds the lease
   * throughout, and the next drive starts with an empty memo, so nothing is kept past a wait.
   */
  memo: Map<string, unknown>;
}

export type StepResult =
  /** The step is complete; `data` is merged into the workflow data. */
  | { outcome: 'done'; data?: WorkflowData; detail?: string }
  /** Not yet (e.g. waiting for the installer's callback): run the step again later. */
  | { outcome: 'wait'; retryInMs: number; data?: WorkflowData; detail?: string }
  /** Start this step's clock again (e.g. after a power-cycle retry while waiting for PXE). */
  | { outcome: 'restart'; retryInMs: number; data?: WorkflowData; detail?: string };

/** A step fails permanently (no further attempts) by throwing this. */
export class StepFailedError extends Error {
  constructor(message: string, readonly cause_code: string = 'step_failed') {
    super(message);
  }
}

export interface StepDefinition {
  name: string;
  /** Attempts before the workflow fails (a thrown error uses one attempt). */
  maxAttempts: number;
  /** Budget for one run of the step (not for waiting across runs). */
  runTimeoutMs: number;
  /** What ends this step's waits, so boot activity of another kind does not wake it (wakeups.ts). */
  wakesOn?: WakeReason;
  run(ctx: StepContext): Promise<StepResult>;
}

export interface WorkflowDefinition {
  kind: string;
  steps: StepDefinition[];
  /**
   * Called once, after the last step, inside the transaction that marks the workflow succeeded
   * (database work only: it commits or rolls back with the status).
   */
  onSucceeded?(trx: Knex.Transaction, wf: WorkflowRecord): Promise<void>;
  /** Called once, when a step fails beyond its attempts, inside the transaction that marks it failed. */
  onFailed?(trx: Knex.Transaction, wf: WorkflowRecord, error: Error, step: string): Promise<void>;
}

export interface WorkflowRunnerOptions {
  knex: Knex;
  /** This process's identity in leases (host:pid:random). */
  owner: string;
  definitions: WorkflowDefinition[];
  clock?: Clock;
  logger?: Logger;
  leaseSeconds?: number;
  /** Delay before retrying a step that threw. */
  retryDelayMs?: (attempt: number) => number;
  /**
   * Workflows `run` drives at once (default 32). Each holds its lease and one slot while its steps
   * run, so this bounds the BMC calls and database work in flight from this process.
   */
  concurrency?: number;
  /** Wake-ups in this process (boot activity, new deployments): `run` looks for due work at once. */
  wakeups?: { subscribe(topic: 'workflows', listener: () => void): () => void };
}

type Row = Record<string, unknown>;

export function mapWorkflow(r: Row): WorkflowRecord {
  return {
    id: String(r.id),
    kind: String(r.kind),
    machineId: String(r.machine_id),
    orderId: (r.order_id as string | null) ?? null,
    status: r.status as WorkflowRecord['status'],
    stepIndex: Number(r.step_index),
    stepAttempt: Number(r.step_attempt),
    stepStartedAt: toIso(r.step_started_at),
    data: json.read<WorkflowData>(r.data, {}),
    nextRunAt: toIso(r.next_run_at)!,
    lastError: (r.last_error as string | null) ?? null,
    createdAt: toIso(r.created_at)!,
    updatedAt: toIso(r.updated_at)!,
    finishedAt: toIso(r.finished_at),
    wakeSeq: Number(r.wake_seq ?? 0),
  };
}

/** A new workflow's row: pending at its first step, due at once. */
export function newWorkflowRow(spec: { kind: string; machineId: string; orderId?: string | null; data?: WorkflowData }, now: string): Row {
  return {
    id: randomUUID(),
    kind: spec.kind,
    machine_id: spec.machineId,
    order_id: spec.orderId ?? null,
    status: 'pending',
    step_index: 0,
    step_attempt: 0,
    data: json.write(spec.data ?? {}),
    next_run_at: now,
    created_at: now,
    updated_at: now,
  };
}

/**
 * Creates a workflow (inside the caller's transaction). One live workflow per machine: a second
 * one is a ConflictError, so a machine is never driven by two workflows at once.
 */
export async function createWorkflow(
  db: Knex | Knex.Transaction,
  spec: { kind: string; machineId: string; orderId?: string | null; data?: WorkflowData },
  now: string,
): Promise<string> {
  const live = await db('workflows').where({ machine_id: spec.machineId }).whereIn('status', ['pending', 'running']).first('id', 'kind');
  if (live) throw new ConflictError(`machine ${spec.machineId} already has a ${live.kind} workflow in progress (${live.id})`, { details: { workflow_id: live.id } });
  const row = newWorkflowRow(spec, now);
  await conflictOnDuplicate(() => db('workflows').insert(row), `machine ${spec.machineId} already has a workflow in progress`);
  return String(row.id);
}

export async function getWorkflow(db: Knex, id: string): Promise<WorkflowRecord | null> {
  const row = await db('workflows').where({ id }).first();
  return row ? mapWorkflow(row) : null;
}

export async function workflowHistory(db: Knex, id: string) {
  const rows = await db('workflow_steps').where({ workflow_id: id }).orderBy('id');
  return rows.map((r: Row) => ({
    step: String(r.step),
    step_index: Number(r.step_index),
    attempt: Number(r.attempt),
    outcome: String(r.outcome),
    worker: String(r.worker),
    started_at: toIso(r.started_at),
    finished_at: toIso(r.finished_at),
    detail: (r.detail as string | null) ?? null,
  }));
}

/**
 * Runs workflows step by step under leases. Several runners (in one or several processes) may
 * share a database: each workflow is driven by whoever holds its lease, and every step outcome is
 * recorded before the next step starts, so a crash resumes at the recorded step.
 */
export class WorkflowRunner {
  private readonly clock: Clock;
  private readonly definitions: Map<string, WorkflowDefinition>;
  private readonly leaseSeconds: number;
  readonly concurrency: number;

  constructor(private readonly opts: WorkflowRunnerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.definitions = new Map(opts.definitions.map((d) => [d.kind, d]));
    this.leaseSeconds = opts.leaseSeconds ?? 60;
    this.concurrency = Math.max(1, opts.concurrency ?? DEFAULT_WORKER_CONCURRENCY);
  }

  private async dueIds(limit: number): Promise<string[]> {
    const now = this.clock.now().toISOString();
    return (await this.opts.knex('workflows')
      .whereIn('status', ['pending', 'running'])
      .andWhere('next_run_at', '<=', now)
      .andWhere((q) => q.whereNull('lease_owner').orWhere('lease_expires_at', '<', now))
      .orderBy('next_run_at')
      .limit(limit)
      .pluck('id')) as string[];
  }

  /**
   * One pass: drives every due workflow (up to `batch`, `concurrency` at a time) until it waits,
   * fails or finishes. Returns the steps run.
   */
  async runOnce(batch = 200, concurrency = this.concurrency): Promise<number> {
    const due = await this.dueIds(batch);
    let ran = 0;
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const id = due[next++]!;
        ran += await this.drive(id, Number.POSITIVE_INFINITY);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
    return ran;
  }

  /**
   * Drives workflows until `signal` aborts: up to `concurrency` at once, refilled as soon as one
   * waits or ends, or a wake-up arrives; with nothing due it looks again every `idleMs`.
   */
  async run(signal: AbortSignal, idleMs = 500): Promise<void> {
    const inflight = new Map<string, Promise<void>>();
    // A workflow whose drive threw (an unknown kind, a failing database) is left alone for an idle
    // period, so it cannot keep this loop busy retrying it.
    const cooling = new Set<string>();
    const waker = new Wakeable();
    const unsubscribe = this.opts.wakeups?.subscribe('workflows', () => waker.wake());
    try {
      while (!signal.aborted) {
        waker.clear();
        let started = 0;
        if (inflight.size < this.concurrency) {
          try {
            // Our own in-flight workflows may still look free until their claim lands: ask for that many more.
            for (const id of await this.dueIds(this.concurrency + cooling.size)) {
              if (inflight.has(id) || cooling.has(id) || inflight.size >= this.concurrency) continue;
              inflight.set(id, this.drive(id, Number.POSITIVE_INFINITY).then(
                () => {
                  inflight.delete(id);
                  waker.wake();
                },
                (err: unknown) => {
                  inflight.delete(id);
                  this.opts.logger?.error({ err, workflow: id }, 'workflow runner: driving a workflow failed');
                  cooling.add(id);
                  setTimeout(() => cooling.delete(id), idleMs).unref();
                },
              ));
              started++;
            }
          } catch (err) {
            this.opts.logger?.error({ err }, 'workflow runner pass failed');
          }
        }
        // Yield to I/O between passes: with better-sqlite3 every query completes synchronously, so
        // back-to-back passes would starve sockets and timers (the boot services in this process).
        await yieldToIo();
        if (started > 0 && inflight.size < this.concurrency) continue;
        await waker.pause(idleMs, signal);
      }
    } finally {
      unsubscribe?.();
      await Promise.allSettled(inflight.values());
    }
  }

  /** Claims the workflow and runs its current step once. Returns false if someone else holds it. */
  async runStep(id: string): Promise<boolean> {
    return (await this.drive(id, 1)) > 0;
  }

  /**
   * Claims the workflow and runs up to `maxSteps` steps in a row while they complete, keeping the
   * lease between them (each outcome is recorded before the next step starts, exactly as if another
   * pass had picked the workflow up). Returns the steps run; 0 when someone else holds the lease.
   */
  private async drive(id: string, maxSteps: number): Promise<number> {
    const { knex, owner } = this.opts;
    const target = { table: 'workflows', id };
    const row = await tryClaimLeaseRow(knex, target, owner, 'workflow', this.leaseSeconds);
    if (!row) return 0;
    // The outcome that ends a drive (wait, retry, failure, success) releases the lease in the same write.
    let released = false;
    try {
      if (!['pending', 'running'].includes(String(row.status))) return 0;
      let wf: WorkflowRecord | null = mapWorkflow(row);
      const def = this.definitions.get(wf.kind);
      if (!def) throw new Error(`no definition for workflow kind ${wf.kind}`);
      let ran = 0;
      const memo = new Map<string, unknown>();
      while (wf && ran < maxSteps) {
        // Between steps of a chain, let sockets and timers run: with better-sqlite3 a step that only
        // touches the database never leaves the microtask queue, and a hundred such chains would
        // hold the event loop (and the boot services in this process) for hundreds of milliseconds.
        if (ran > 0) await yieldToIo();
        ran++;
        if (wf.stepIndex >= def.steps.length) {
          await this.finish(wf, def);
          released = true;
          break;
        }
        const outcome = await this.execute(wf, def, memo);
        if (outcome.next) wf = outcome.next;
        else {
          released = outcome.released;
          break;
        }
      }
      return ran;
    } finally {
      if (!released) await releaseLease(knex, target, owner);
    }
  }

  /**
   * Runs the current step and records its outcome. `next` is the workflow at its next step when
   * the step completed and more remain (the lease is kept); otherwise `released` tells whether
   * the record also gave the lease up (false when it was lost or the record failed).
   */
  private async execute(wf: WorkflowRecord, def: WorkflowDefinition, memo: Map<string, unknown>): Promise<{ next: WorkflowRecord; released?: undefined } | { next: null; released: boolean }> {
    const { knex, owner } = this.opts;
    const step = def.steps[wf.stepIndex]!;
    const started = this.clock.now();
    const firstRunOfStep = wf.stepStartedAt === null;
    const attempt = Math.max(1, wf.stepAttempt);
    const stepStartedAt = wf.stepStartedAt ? new Date(wf.stepStartedAt) : started;

    // Keep the lease alive during slow steps (BMC power polling); abort the step if it is lost.
    const abort = new AbortController();
    const renew = setInterval(() => {
      renewLease(knex, { table: 'workflows', id: wf.id }, owner, this.leaseSeconds)
        .then((ok) => { if (!ok) abort.abort(new Error('workflow lease lost')); })
        .catch(() => undefined);
    }, (this.leaseSeconds * 1000) / 3);
    renew.unref();
    const timeout = setTimeout(() => abort.abort(new Error(`step ${step.name} exceeded its ${step.runTimeoutMs} ms budget`)), step.runTimeoutMs);
    timeout.unref();

    let result: StepResult | null = null;
    let error: Error | null = null;
    try {
      result = await Promise.race([
        step.run({ workflow: wf, attempt, stepStartedAt, now: started, signal: abort.signal, memo, ...(this.opts.logger ? { logger: this.opts.logger } : {}) }),
        new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true })),
      ]);
    } catch (err) {
      error = err instanceof Error ? err : new Error(String(err));
    } finally {
      clearInterval(renew);
      clearTimeout(timeout);
    }

    const now = this.clock.now();
    const nowIso = now.toISOString();
    const data = { ...wf.data, ...(result?.data ?? {}) };
    const history = (outcome: string, detail: string | null) =>
      ({ workflow_id: wf.id, step_index: wf.stepIndex, step: step.name, attempt, outcome, worker: owner, started_at: started.toISOString(), finished_at: nowIso, detail });
    const mine = (db: Knex | Knex.Transaction) => db('workflows').where({ id: wf.id, lease_owner: owner });

    if (result?.outcome === 'done') {
      const next: WorkflowRecord = { ...wf, status: 'running', stepIndex: wf.stepIndex + 1, stepAttempt: 0, stepStartedAt: null, data, nextRunAt: nowIso, lastError: null, updatedAt: nowIso };
      const last = next.stepIndex >= def.steps.length;
      // The lease is extended with the record: the next step of the chain starts under a full lease.
      const advance = (db: Knex | Knex.Transaction) => mine(db).update({
        status: 'running', step_index: next.stepIndex, step_attempt: 0, step_started_at: null, data: json.write(data), next_run_at: nowIso, last_error: null, updated_at: nowIso,
        // A step that waited recorded what for; the next step has waited for nothing yet.
        waiting_on: null,
        lease_expires_at: dbNowPlus(knex, this.leaseSeconds),
      });
      if (!last) {
        if (!(await updateThenInsert(knex, advance(knex), 'workflow_steps', history('done', result.detail ?? null)))) return { next: null, released: false };
        return { next };
      }
      const recorded = await knex.transaction(async (trx): Promise<'no' | 'step' | 'succeeded'> => {
        if ((await advance(trx)) !== 1) return 'no';
        await trx('workflow_steps').insert(history('done', result!.detail ?? null));
        // After the last step the workflow succeeds in the same transaction. Its onSucceeded work
        // runs in a savepoint: if that fails, the step stays recorded and `finish` is retried later.
        if (!def.onSucceeded) return (await this.succeed(trx, next, def)) ? 'succeeded' : 'step';
        return trx.transaction((sp) => this.succeed(sp, next, def)).then(
          (ok) => (ok ? 'succeeded' : 'step'),
          (err: unknown) => {
            this.opts.logger?.error({ err, workflow: wf.id }, 'workflow succeeded but its completion work failed; will retry');
            return 'step' as const;
          },
        );
      });
      return { next: null, released: recorded === 'succeeded' };
    }
    if (result && (result.outcome === 'wait' || result.outcome === 'restart')) {
      const restart = result.outcome === 'restart';
      const patch = {
        status: 'running',
        step_attempt: attempt,
        step_started_at: restart ? null : stepStartedAt.toISOString(),
        data: json.write(data),
        // The step ran again and is waiting normally: no longer in retry back-off (wake-ups skip
        // workflows with an error). The failed attempt stays in the step history.
        last_error: null,
        updated_at: nowIso,
        waiting_on: step.wakesOn ?? null,
        ...FREE_LEASE,
      };
      const later = new Date(now.getTime() + result.retryInMs).toISOString();
      // Waiting is polled; record only the first wait of a step and every restart, not every poll.
      const detail = firstRunOfStep || restart ? history(restart ? 'restart' : 'waiting', result.detail ?? null) : null;
      // A wake-up that arrived while the step looked (wake_seq moved) may be for the very event it
      // missed: then the workflow stays due instead of sleeping until its next poll.
      const sleep = mine(knex).where({ wake_seq: wf.wakeSeq }).update({ ...patch, next_run_at: later });
      const stayDue = () => mine(knex).update({ ...patch, next_run_at: nowIso });
      const released = detail
        ? (await updateThenInsert(knex, sleep, 'workflow_steps', detail)) || (await updateThenInsert(knex, stayDue(), 'workflow_steps', detail))
        : (await sleep) === 1 || (await stayDue()) === 1;
      return { next: null, released };
    }

    const failure = error ?? new Error('step returned no result');
    const permanent = failure instanceof StepFailedError || attempt >= step.maxAttempts;
    if (!permanent) {
      const delay = this.opts.retryDelayMs?.(attempt) ?? Math.min(60_000, 1000 * 2 ** (attempt - 1));
      const released = await updateThenInsert(knex, mine(knex).update({
        status: 'running', step_attempt: attempt + 1, step_started_at: stepStartedAt.toISOString(), last_error: `${step.name}: ${failure.message}`, next_run_at: new Date(now.getTime() + delay).toISOString(), updated_at: nowIso,
        ...FREE_LEASE,
      }), 'workflow_steps', history('retry', failure.message));
      this.opts.logger?.warn({ workflow: wf.id, step: step.name, attempt, err: failure.message }, 'workflow step failed; will retry');
      return { next: null, released };
    }
    const released = await knex.transaction(async (trx) => {
      const n = await mine(trx).update({
        status: 'failed', step_attempt: attempt, data: json.write(data), last_error: `${step.name}: ${failure.message}`, finished_at: nowIso, updated_at: nowIso,
        ...FREE_LEASE,
      });
      if (n !== 1) return false;
      await trx('workflow_steps').insert(history('failed', failure.message));
      await def.onFailed?.(trx, { ...wf, data, status: 'failed', lastError: failure.message }, failure, step.name);
      return true;
    });
    this.opts.logger?.error({ workflow: wf.id, step: step.name, err: failure.message }, 'workflow failed');
    return { next: null, released };
  }

  /** Marks a workflow past its last step succeeded (a crash came between its last step and this). */
  private async finish(wf: WorkflowRecord, def: WorkflowDefinition): Promise<void> {
    await this.opts.knex.transaction((trx) => this.succeed(trx, wf, def));
  }

  /** Marks the workflow succeeded and releases its lease, with its onSucceeded work, in `trx`. False when the lease was lost. */
  private async succeed(trx: Knex.Transaction, wf: WorkflowRecord, def: WorkflowDefinition): Promise<boolean> {
    const nowIso = this.clock.now().toISOString();
    const n = await trx('workflows').where({ id: wf.id, lease_owner: this.opts.owner }).whereIn('status', ['pending', 'running']).update({ status: 'succeeded', finished_at: nowIso, updated_at: nowIso, ...FREE_LEASE });
    if (n === 1) await def.onSucceeded?.(trx, { ...wf, status: 'succeeded' });
    return n === 1;
  }
}

/** The columns that give a lease up, written together with the outcome that ends a drive. */
const FREE_LEASE = { lease_owner: null, lease_purpose: null, lease_expires_at: null } as const;
