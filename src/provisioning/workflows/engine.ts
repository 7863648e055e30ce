import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import { pause, systemClock } from '../../clock.js';
import { ConflictError } from '../../errors.js';
import { releaseLease, renewLease, tryClaimLease } from '../../db/leases.js';
import { conflictOnDuplicate, json, toIso } from '../../db/sql.js';

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
  const id = randomUUID();
  await conflictOnDuplicate(() => db('workflows').insert({
    id,
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
  }), `machine ${spec.machineId} already has a workflow in progress`);
  return id;
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

  constructor(private readonly opts: WorkflowRunnerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.definitions = new Map(opts.definitions.map((d) => [d.kind, d]));
    this.leaseSeconds = opts.leaseSeconds ?? 60;
  }

  /** Runs one step of every due workflow (up to `batch`, `concurrency` at a time). Returns steps run. */
  async runOnce(batch = 200, concurrency = 32): Promise<number> {
    const now = this.clock.now().toISOString();
    const due = (await this.opts.knex('workflows')
      .whereIn('status', ['pending', 'running'])
      .andWhere('next_run_at', '<=', now)
      .andWhere((q) => q.whereNull('lease_owner').orWhere('lease_expires_at', '<', now))
      .orderBy('next_run_at')
      .limit(batch)
      .pluck('id')) as string[];
    let ran = 0;
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const id = due[next++]!;
        if (await this.runStep(id)) ran++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
    return ran;
  }

  async run(signal: AbortSignal, idleMs = 500): Promise<void> {
    while (!signal.aborted) {
      let ran = 0;
      try {
        ran = await this.runOnce();
      } catch (err) {
        this.opts.logger?.error({ err }, 'workflow runner pass failed');
      }
      if (ran > 0) {
        // Yield to I/O between busy passes (synchronous SQLite would otherwise starve the event loop).
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      await pause(idleMs, signal);
    }
  }

  /** Claims the workflow and runs its current step once. Returns false if someone else holds it. */
  async runStep(id: string): Promise<boolean> {
    const { knex, owner } = this.opts;
    const target = { table: 'workflows', id };
    if (!(await tryClaimLease(knex, target, owner, 'workflow', this.leaseSeconds))) return false;
    try {
      const row = await knex('workflows').where({ id }).first();
      if (!row || !['pending', 'running'].includes(String(row.status))) return false;
      const wf = mapWorkflow(row);
      const def = this.definitions.get(wf.kind);
      if (!def) throw new Error(`no definition for workflow kind ${wf.kind}`);
      if (wf.stepIndex >= def.steps.length) {
        await this.finish(wf, def);
        return true;
      }
      await this.execute(wf, def);
      return true;
    } finally {
      await releaseLease(knex, target, owner);
    }
  }

  private async execute(wf: WorkflowRecord, def: WorkflowDefinition): Promise<void> {
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
        step.run({ workflow: wf, attempt, stepStartedAt, now: started, signal: abort.signal, ...(this.opts.logger ? { logger: this.opts.logger } : {}) }),
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
      knex('workflow_steps').insert({ workflow_id: wf.id, step_index: wf.stepIndex, step: step.name, attempt, outcome, worker: owner, started_at: started.toISOString(), finished_at: nowIso, detail });

    if (result?.outcome === 'done') {
      const recorded = await knex.transaction(async (trx) => {
        const n = await trx('workflows').where({ id: wf.id, lease_owner: owner }).update({
          status: 'running', step_index: wf.stepIndex + 1, step_attempt: 0, step_started_at: null, data: json.write(data), next_run_at: nowIso, last_error: null, updated_at: nowIso,
        });
        if (n === 1) await history('done', result!.detail ?? null).transacting(trx);
        return n === 1;
      });
      if (recorded && wf.stepIndex + 1 >= def.steps.length) await this.finish({ ...wf, data, stepIndex: wf.stepIndex + 1 }, def);
      return;
    }
    if (result && (result.outcome === 'wait' || result.outcome === 'restart')) {
      const restart = result.outcome === 'restart';
      await knex('workflows').where({ id: wf.id, lease_owner: owner }).update({
        status: 'running',
        step_attempt: attempt,
        step_started_at: restart ? null : stepStartedAt.toISOString(),
        data: json.write(data),
        next_run_at: new Date(now.getTime() + result.retryInMs).toISOString(),
        updated_at: nowIso,
      });
      // Waiting is polled; record only the first wait of a step and every restart, not every poll.
      if (firstRunOfStep || restart) await history(restart ? 'restart' : 'waiting', result.detail ?? null);
      return;
    }

    const failure = error ?? new Error('step returned no result');
    const permanent = failure instanceof StepFailedError || attempt >= step.maxAttempts;
    if (!permanent) {
      const delay = this.opts.retryDelayMs?.(attempt) ?? Math.min(60_000, 1000 * 2 ** (attempt - 1));
      await knex('workflows').where({ id: wf.id, lease_owner: owner }).update({
        status: 'running', step_attempt: attempt + 1, step_started_at: stepStartedAt.toISOString(), last_error: `${step.name}: ${failure.message}`, next_run_at: new Date(now.getTime() + delay).toISOString(), updated_at: nowIso,
      });
      await history('retry', failure.message);
      this.opts.logger?.warn({ workflow: wf.id, step: step.name, attempt, err: failure.message }, 'workflow step failed; will retry');
      return;
    }
    await knex.transaction(async (trx) => {
      const n = await trx('workflows').where({ id: wf.id, lease_owner: owner }).update({
        status: 'failed', step_attempt: attempt, data: json.write(data), last_error: `${step.name}: ${failure.message}`, finished_at: nowIso, updated_at: nowIso,
      });
      if (n !== 1) return;
      await history('failed', failure.message).transacting(trx);
      await def.onFailed?.(trx, { ...wf, data, status: 'failed', lastError: failure.message }, failure, step.name);
    });
    this.opts.logger?.error({ workflow: wf.id, step: step.name, err: failure.message }, 'workflow failed');
  }

  private async finish(wf: WorkflowRecord, def: WorkflowDefinition): Promise<void> {
    const nowIso = this.clock.now().toISOString();
    await this.opts.knex.transaction(async (trx) => {
      const n = await trx('workflows').where({ id: wf.id, lease_owner: this.opts.owner }).whereIn('status', ['pending', 'running']).update({ status: 'succeeded', finished_at: nowIso, updated_at: nowIso });
      if (n === 1) await def.onSucceeded?.(trx, { ...wf, status: 'succeeded' });
    });
  }
}
