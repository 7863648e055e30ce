import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { pause, systemClock } from '../clock.js';
import { ConflictError } from '../errors.js';
import type { OrderService } from '../orders/orders.js';
import { createWorkflow, type WorkflowRunner } from './workflows/engine.js';

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

  /** One pass; returns how much happened, for tests and for the idle back-off. */
  async tick(): Promise<{ allocated: number; started: number; steps: number; clockChanges: number }> {
    const allocated = await this.opts.orders.allocateWaiting();
    const started = await this.startDeployments();
    const steps = await this.opts.runner.runOnce();
    let clockChanges = 0;
    const now = this.clock.now().getTime();
    if (now - this.lastClockTick >= (this.opts.clockTickMs ?? 10_000)) {
      this.lastClockTick = now;
      clockChanges = (await this.opts.orders.tickClocks()).length;
    }
    return { allocated, started, steps, clockChanges };
  }

  async run(signal: AbortSignal, idleMs = 500): Promise<void> {
    while (!signal.aborted) {
      let busy = false;
      try {
        const r = await this.tick();
        busy = r.allocated + r.started + r.steps > 0;
      } catch (err) {
        this.opts.logger?.error({ err }, 'provisioner pass failed');
      }
      // Yield to I/O between busy passes: with better-sqlite3 every query completes synchronously,
      // so back-to-back passes would starve sockets and timers (the boot services in this process).
      if (busy) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      await pause(idleMs, signal);
    }
  }

  private async startDeployments(): Promise<number> {
    const { knex } = this.opts;
    const rows = (await knex('orders')
      .where('orders.status', 'allocated')
      .whereNotExists(knex('workflows').whereRaw('workflows.order_id = orders.id').whereIn('workflows.status', ['pending', 'running']).select(knex.raw('1')))
      .limit(100)
      .select('orders.id', 'orders.machine_id')) as { id: string; machine_id: string }[];
    let started = 0;
    for (const r of rows) {
      try {
        await knex.transaction(async (trx) => {
          const still = await trx('orders').where({ id: r.id, status: 'allocated', machine_id: r.machine_id }).first('id');
          if (!still) return;
          await createWorkflow(trx, { kind: 'deploy', machineId: r.machine_id, orderId: r.id }, this.clock.now().toISOString());
          started++;
        });
      } catch (err) {
        // Another process started it first.
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    return started;
  }
}
