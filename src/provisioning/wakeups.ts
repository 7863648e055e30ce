import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { changeSignals, type ChangeSignals } from '../db/change-signals.js';
import { NETWORK_BOOT_EVENTS, WAIT_ENDING_CALLBACKS, type WakeReason } from './wake-events.js';

/** Boot activity a waiting step may be waiting for, by the kind of wait it ends. */
const WAKING_EVENTS: ReadonlyMap<string, WakeReason> = new Map<string, WakeReason>([
  ...NETWORK_BOOT_EVENTS.map((e) => [e, 'network_boot'] as const),
  ...WAIT_ENDING_CALLBACKS.map((e) => [`callback:${e}`, 'callback'] as const),
]);

/** The machines whose waiting workflows these events may end (each once), by the kind of wait. */
export function machinesToWake(events: readonly MachineActivity[]): Map<WakeReason, string[]> {
  const byReason = new Map<WakeReason, Set<string>>();
  for (const e of events) {
    const reason = WAKING_EVENTS.get(e.event);
    if (!reason) continue;
    let ids = byReason.get(reason);
    if (!ids) byReason.set(reason, (ids = new Set()));
    ids.add(e.machineId);
  }
  return new Map([...byReason].map(([reason, ids]) => [reason, [...ids]]));
}

/** One thing the boot role recorded for a machine, already committed to the database. */
export interface MachineActivity {
  machineId: string;
  event: string;
}

/** What a listener is told about: workflows that may be due, or orders that may need a deployment. */
export type WakeupTopic = 'workflows' | 'orders';
export const WAKEUP_TOPICS: readonly WakeupTopic[] = ['workflows', 'orders'];

/**
 * Wake-ups for the worker role, so waiting is event-driven and polling is only the fallback:
 *
 * - `machineActivity` (from the boot role, after the event is committed): the machine's live
 *   workflow becomes due now and its `wake_seq` moves, in the database; runners in this process are
 *   told at once, and workers in other processes through the database's change signals
 *   (db/change-signals.ts), or else at their next poll.
 * - `announce('orders')` (an order was allocated): the provisioner, in this process or another,
 *   starts its deployment now instead of at its next idle pass; `notify('workflows')` (deployments
 *   started by this process's provisioner): this process's runner looks for due workflows now.
 *
 * A workflow retrying a failed step (`last_error` set) is left alone, so boot activity never
 * shortens a retry back-off. Nothing here is needed for correctness: a lost wake-up costs one poll.
 */
export class WorkerWakeups {
  private readonly listeners: Record<WakeupTopic, Set<() => void>> = { workflows: new Set(), orders: new Set() };
  private readonly clock: Clock;
  private readonly logger: Logger | undefined;
  private readonly signals: ChangeSignals | null;

  constructor(
    private readonly knex: Knex,
    opts: { clock?: Clock; logger?: Logger; signals?: ChangeSignals } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger;
    this.signals = opts.signals ?? null;
  }

  /**
   * Listens for wake-ups from this process and, with change signals, from other processes on the
   * same database (which listen while anyone here does); returns the function that stops listening.
   */
  subscribe(topic: WakeupTopic, listener: () => void): () => void {
    this.listeners[topic].add(listener);
    const stopSignals = this.signals?.listen((t) => {
      if (t === topic) listener();
    });
    return () => {
      this.listeners[topic].delete(listener);
      stopSignals?.();
    };
  }

  /** Tells listeners here and in other processes that there may be work. Never throws or blocks. */
  announce(topic: WakeupTopic): void {
    this.notify(topic);
    void this.signals?.publish(topic);
  }

  /** Tells this process's listeners that there may be work, without touching the database. */
  notify(topic: WakeupTopic): void {
    for (const listener of this.listeners[topic]) {
      try {
        listener();
      } catch (err) {
        this.logger?.warn({ err }, 'wake-up listener threw');
      }
    }
  }

  /**
   * Boot activity, as the boot role reports it (any events; those no workflow waits for are
   * ignored). Never throws and never blocks the caller: the database write runs in the background.
   * A bound function, so it can be handed to the boot role as its activity listener as it is.
   */
  readonly machineActivity = (events: readonly MachineActivity[]): void => {
    for (const [reason, ids] of machinesToWake(events)) {
      this.wakeMachines(ids, reason).catch((err: unknown) => this.logger?.warn({ err, machines: ids.length }, 'waking workflows failed; they will notice at their next poll'));
    }
  };

  /**
   * Makes the live workflows of these machines due now. Returns how many were woken. With a
   * `reason`, a workflow sleeping in a wait for another kind of event is left asleep; one that is
   * not sleeping in a wait (running a step, due, or waiting from before waits were recorded) is
   * woken all the same, so a step that is looking right now sees `wake_seq` move.
   */
  async wakeMachines(machineIds: readonly string[], reason?: WakeReason): Promise<number> {
    let woken = 0;
    // Bounded IN lists (SQLite's parameter limit, PostgreSQL's plan size).
    for (let i = 0; i < machineIds.length; i += 500) {
      const q = this.knex('workflows')
        .whereIn('machine_id', machineIds.slice(i, i + 500))
        .whereIn('status', ['pending', 'running'])
        .whereNull('last_error');
      if (reason) q.andWhere((w) => w.whereNull('waiting_on').orWhere('waiting_on', reason));
      woken += await q.update({ next_run_at: this.clock.now().toISOString(), wake_seq: this.knex.raw('wake_seq + 1') });
    }
    if (woken > 0) this.announce('workflows');
    return woken;
  }
}

/** Wake-ups that also reach other processes on this database (through its change signals). */
export function databaseWakeups(knex: Knex, opts: { clock?: Clock; logger?: Logger } = {}): WorkerWakeups {
  return new WorkerWakeups(knex, { ...opts, signals: changeSignals(knex, { topics: WAKEUP_TOPICS, ...(opts.logger ? { logger: opts.logger } : {}) }) });
}
