import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { systemClock, Wakeable } from '../clock.js';
import type { OrderService } from '../orders/orders.js';
import { newWorkflowRow, type WorkflowRunner } from './workflows/engine.js';
import type { WorkerWakeups } from './wakeups.js';

export interface ProvisionerOptions {
  knex: Knex;
  orders: OrderService;
  runner: WorkflowRunner;
  clock?: Clock;
  logger?: Logger;
  /**
   * How often open orders' delivery clocks are recomputed (default 10 s). Statuses move on an
   * hours scale; recomputing every open order on every busy pass would be wasted work.
   */
  clockTickMs?: number;
  /**
   * Wake-ups in this process: an order allocated by the API here starts its deployment at once
   * (other processes' orders are found at the next idle pass); started deployments wake the runner.
   */
  wakeups?: WorkerWakeups;
}

/**
 * The worker role's loop: gives free machines to waiting orders, starts a deploy workflow for
 * every allocated order, advances workflows, and keeps the delivery clocks' events flowing.
 * Every piece is safe to run in several processes at once (conditional updates and leases).
 */
export class Provisioner {
  private readonly clock: Clock;
  private lastClockTick = Number.NEGATIVE_INFINITY;
  constructor(private readonly opts: ProvisionerOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /** One pass, workflows included (tests); returns how much happened. */
  async tick(): Promise<{ allocated: number; started: number; steps: number; clockChanges: number }> {
    const allocated = await this.opts.orders.allocateWaiting();
    const started = await this.startDeployments();
    const steps = await this.opts.runner.runOnce();
    const clockChanges = await this.tickClocksWhenDue();
    return { allocated, started, steps, clockChanges };
  }

  /**
   * Runs until `signal` aborts: the workflow runner drives workflows continuously (up to its
   * concurrency), while this loop allocates, starts deployments and ticks clocks, every `idleMs`
   * or at once when woken.
   */
  async run(signal: AbortSignal, idleMs = 500): Promise<void> {
    const runner = this.opts.runner.run(signal, idleMs);
    const waker = new Wakeable();
    const unsubscribe = this.opts.wakeups?.subscribe('orders', () => waker.wake());
    try {
      while (!signal.aborted) {
        waker.clear();
        let busy = false;
        try {
          const allocated = await this.opts.orders.allocateWaiting();
          const started = await this.startDeployments();
          if (started > 0) this.opts.wakeups?.notify('workflows');
          await this.tickClocksWhenDue();
          busy = allocated + started > 0;
        } catch (err) {
          this.opts.logger?.error({ err }, 'provisioner pass failed');
        }
        // Yield to I/O between busy passes: with better-sqlite3 every query completes synchronously,
        // so back-to-back passes would starve sockets and timers (the boot services in this process).
        if (busy) {
          await yieldToIo();
          continue;
        }
        await waker.pause(idleMs, signal);
      }
    } finally {
      unsubscribe?.();
      await runner;
    }
  }

  private async tickClocksWhenDue(): Promise<number> {
    const now = this.clock.now().getTime();
    if (now - this.lastClockTick < (this.opts.clockTickMs ?? 10_000)) return 0;
    this.lastClockTick = now;
    return (await this.opts.orders.tickClocks()).length;
  }

  /**
   * Starts a deploy workflow for every allocated order without one, a batch per transaction. The
   * database keeps one live workflow per machine: an order another process started meanwhile is
   * skipped by the insert, not an error.
   */
  private async startDeployments(): Promise<number> {
    const { knex } = this.opts;
    const waiting = (await knex('orders')
      .where('orders.status', 'allocated')
      .whereNotExists(knex('workflows').whereRaw('workflows.order_id = orders.id').whereIn('workflows.status', ['pending', 'running']).select(knex.raw('1')))
      .limit(100)
      .select('orders.id', 'orders.machine_id')) as { id: string; machine_id: string }[];
    if (waiting.length === 0) return 0;
    return knex.transaction(async (trx) => {
      // Still allocated to the same machine (not cancelled or re-allocated since the read above).
      const still = (await trx('orders').whereIn('id', waiting.map((r) => r.id)).where('status', 'allocated').select('id', 'machine_id')) as { id: string; machine_id: string }[];
      const now = this.clock.now().toISOString();
      const rows = still.filter((r) => waiting.some((w) => w.id === r.id && w.machine_id === r.machine_id)).map((r) => newWorkflowRow({ kind: 'deploy', machineId: r.machine_id, orderId: r.id }, now));
      if (rows.length === 0) return 0;
      const inserted = (await trx('workflows').insert(rows).onConflict().ignore().returning('id')) as unknown[];
      return inserted.length;
    });
  }
}
