import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import { dialectOf } from './connect.js';

/**
 * "There may be work" signals between Anvil processes on one database, so that a worker does not
 * wait for its next poll when another process made a workflow due (the boot role's activity) or
 * allocated an order (the API). The database stays the only channel between roles:
 *
 * - PostgreSQL: NOTIFY on one channel, heard by a LISTEN on a connection of its own. The payload
 *   names the schema (test databases and several installations may share a database) and the
 *   sending process, which ignores its own signals (it told its own listeners directly).
 * - SQLite: no message at all. `PRAGMA data_version` changes when another connection commits, so
 *   the listener polls it (a read of the shared-memory header, microseconds) and reports every topic
 *   when it moved. Commits made by this process do not move it.
 *
 * Signals are hints: one that is lost (a reconnect, a crash) costs the listener one poll interval,
 * so nothing here may throw into the caller.
 */
export interface ChangeSignals {
  /** Tells other processes about `topic`. Never rejects. */
  publish(topic: string): Promise<void>;
  /**
   * Calls `listener` for every topic another process announces (on SQLite: every topic, on any commit
   * by another process). Listening starts with the first listener and stops with the last.
   */
  listen(listener: (topic: string) => void): () => void;
}

export interface ChangeSignalsOptions {
  /** Every topic there is: reported all at once when what changed is unknown. */
  topics: readonly string[];
  logger?: { warn(obj: object, msg: string): void };
  /** SQLite: how often `data_version` is read. Default 100 ms. */
  sqlitePollMs?: number;
}

const SIGNAL_CHANNEL = 'anvil_wakeups';
/** PostgreSQL: the longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 30_000;

export function changeSignals(knex: Knex, opts: ChangeSignalsOptions): ChangeSignals {
  return dialectOf(knex) === 'sqlite' ? new SqliteSignals(knex, opts) : new PostgresSignals(knex, opts);
}

abstract class ListenerSet implements ChangeSignals {
  private readonly listeners = new Set<(topic: string) => void>();

  constructor(protected readonly opts: ChangeSignalsOptions) {}

  abstract publish(topic: string): Promise<void>;
  protected abstract start(): void;
  protected abstract stop(): void;

  listen(listener: (topic: string) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0) this.stop();
    };
  }

  protected emit(topics: readonly string[]): void {
    for (const topic of topics) {
      for (const listener of [...this.listeners]) {
        try {
          listener(topic);
        } catch (err) {
          this.opts.logger?.warn({ err, topic }, 'change signal listener threw');
        }
      }
    }
  }
}

class SqliteSignals extends ListenerSet {
  private timer: NodeJS.Timeout | null = null;
  private lastVersion: number | null = null;
  private reading = false;

  constructor(
    private readonly knex: Knex,
    opts: ChangeSignalsOptions,
  ) {
    super(opts);
  }

  async publish(): Promise<void> {
    // The commit that made the work is the signal (data_version).
  }

  protected start(): void {
    this.lastVersion = null;
    void this.read();
    this.timer = setInterval(() => void this.read(), this.opts.sqlitePollMs ?? 100);
    this.timer.unref();
  }

  protected stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async read(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const rows = (await this.knex.raw('pragma data_version')) as { data_version: number }[];
      const version = Number(rows[0]?.data_version);
      const changed = this.lastVersion !== null && version !== this.lastVersion;
      this.lastVersion = version;
      if (changed && this.timer) this.emit(this.opts.topics);
    } catch (err) {
      this.opts.logger?.warn({ err }, 'reading SQLite data_version failed; waiting workflows fall back to polling');
    } finally {
      this.reading = false;
    }
  }
}

interface SignalPayload {
  /** Schema (PostgreSQL search path) of the sender, '' for the default. */
  s: string;
  /** Sending process. */
  o: string;
  t: string[];
}

/**
 * Publications within this window share one NOTIFY: during a burst (an order pipeline posting, a
 * rack booting) a statement per event would cost more than the wake-ups save.
 */
const COALESCE_MS = 10;

class PostgresSignals extends ListenerSet {
  private readonly schema: string;
  private readonly self = randomBytes(6).toString('hex');
  private client: pg.Client | null = null;
  private active = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private failures = 0;

  constructor(
    private readonly knex: Knex,
    opts: ChangeSignalsOptions,
  ) {
    super(opts);
    const searchPath = knex.client.config.searchPath as string | string[] | undefined;
    this.schema = Array.isArray(searchPath) ? (searchPath[0] ?? '') : (searchPath ?? '');
  }

  private pending = new Set<string>();
  private flushing: Promise<void> | null = null;

  publish(topic: string): Promise<void> {
    this.pending.add(topic);
    this.flushing ??= new Promise<void>((resolve) => setTimeout(resolve, COALESCE_MS).unref()).then(() => this.flush());
    return this.flushing;
  }

  private async flush(): Promise<void> {
    const topics = [...this.pending];
    this.pending.clear();
    this.flushing = null;
    const payload: SignalPayload = { s: this.schema, o: this.self, t: topics };
    try {
      await this.knex.raw('select pg_notify(?, ?)', [SIGNAL_CHANNEL, JSON.stringify(payload)]);
    } catch (err) {
      this.opts.logger?.warn({ err, topics }, 'publishing a change signal failed; other processes will notice at their next poll');
    }
  }

  protected start(): void {
    this.active = true;
    void this.connect();
  }

  protected stop(): void {
    this.active = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (!this.active || this.client) return;
    // connect() (db/connect.ts) always configures PostgreSQL with a { connectionString } object.
    const client = new pg.Client({ ...(this.knex.client.config.connection as pg.ClientConfig), application_name: 'anvil-signals' });
    this.client = client;
    client.on('notification', (message) => {
      if (message.channel !== SIGNAL_CHANNEL || !message.payload) return;
      let payload: SignalPayload;
      try {
        payload = JSON.parse(message.payload) as SignalPayload;
      } catch {
        return;
      }
      if (payload.s !== this.schema || payload.o === this.self || !Array.isArray(payload.t)) return;
      this.emit(payload.t.filter((t) => this.opts.topics.includes(t)));
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, null));
    try {
      await client.connect();
      await client.query(`LISTEN ${SIGNAL_CHANNEL}`);
    } catch (err) {
      this.lost(client, err as Error);
      return;
    }
    if (this.client !== client) return;
    // Signals sent while this listener was away are lost: treat everything as possibly changed.
    if (this.failures > 0) this.emit(this.opts.topics);
    this.failures = 0;
  }

  private lost(client: pg.Client, err: Error | null): void {
    if (this.client !== client) return;
    this.client = null;
    void client.end().catch(() => undefined);
    if (!this.active) return;
    this.failures++;
    const delay = Math.min(250 * 2 ** (this.failures - 1), MAX_RECONNECT_DELAY_MS);
    this.opts.logger?.warn({ err, retryInMs: delay }, 'change signal listener lost its connection; reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }
}
