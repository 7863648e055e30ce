import type { Knex } from 'knex';
import { ConflictError } from '../errors.js';
import { dialectOf } from './connect.js';

/**
 * The short list of helpers that let one set of queries run on SQLite and PostgreSQL.
 * A branch on dialect outside this file (and db/leases.ts) is a smell.
 *
 * Time convention: every timestamp is written as an ISO 8601 UTC string with milliseconds
 * (`2026-11-26T10:55:32.123Z`); SQLite stores that text (so lexical order is time order),
 * PostgreSQL stores timestamptz. `toIso` turns whatever the driver returns back into that form.
 */

export function isSqlite(knex: Knex): boolean {
  return dialectOf(knex) === 'sqlite';
}

/** The database's own "now", in the same ISO form the application writes. */
export function dbNow(knex: Knex): Knex.Raw {
  return isSqlite(knex) ? knex.raw(`strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`) : knex.raw('now()');
}

/** The database's "now + seconds" (negative for the past). */
export function dbNowPlus(knex: Knex, seconds: number): Knex.Raw {
  const s = Math.trunc(seconds);
  return isSqlite(knex)
    ? knex.raw(`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)`, [`${s >= 0 ? '+' : ''}${s} seconds`])
    : knex.raw(`now() + (? * interval '1 second')`, [s]);
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function toIso(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number') return new Date(value).toISOString();
  // What Anvil itself wrote on SQLite is already in this form: return it without a parse (hot path).
  if (typeof value === 'string' && ISO_MS.test(value)) return value;
  const s = String(value);
  // SQLite's CURRENT_TIMESTAMP form, should one slip in: '2026-11-26 10:55:32'.
  if (/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(s)) return new Date(s.replace(' ', 'T') + 'Z').toISOString();
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toISOString();
}

export function toBool(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
}

export function toCount(value: unknown): number {
  return Number(value ?? 0);
}

export function toNumberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** JSON columns are `text` on both dialects; parse and stringify at the repository boundary. */
export const json = {
  read<T>(value: unknown, fallback: T): T {
    if (value === null || value === undefined || value === '') return fallback;
    if (typeof value !== 'string') return value as T;
    try {
      return JSON.parse(value) as T;
    } catch {
      return fallback;
    }
  },
  write(value: unknown): string | null {
    return value === undefined || value === null ? null : JSON.stringify(value);
  },
};

/** True for a unique-constraint violation from either driver. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True for a foreign-key violation from either driver. */
export function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string };
  return e?.code === '23503' || e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** Runs `fn`, turning a unique violation into a ConflictError with `message`. */
export async function conflictOnDuplicate<T>(fn: () => Promise<T>, message: string, details?: Record<string, unknown>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isUniqueViolation(err)) throw new ConflictError(message, { details: { reason: 'already_exists', ...details }, cause: err });
    throw err;
  }
}

/**
 * Runs `update` (an UPDATE that matches at most one row) and, only if it changed a row, inserts
 * `row` into `table`, atomically. Returns whether the update matched. On PostgreSQL this is one
 * statement (a data-modifying WITH; the row's columns take their types from the table through
 * json_populate_record), because a transaction there costs two more round trips; on SQLite it is
 * one synchronous transaction on the connection (`sqliteAtomically`).
 */
export async function updateThenInsert(knex: Knex, update: Knex.QueryBuilder, table: string, row: Record<string, unknown>): Promise<boolean> {
  if (isSqlite(knex)) {
    if (knex.isTransaction) {
      if ((await update.transacting(knex as Knex.Transaction)) !== 1) return false;
      await knex(table).insert(row);
      return true;
    }
    return sqliteAtomically(knex, (run) => {
      if (run(update) !== 1) return false;
      run(knex(table).insert(row));
      return true;
    });
  }
  const changed = update.returning(knex.raw('1')).toSQL();
  const cols = Object.keys(row);
  const list = cols.map(() => '??').join(', ');
  const result = (await knex.raw(
    `with changed as (${changed.sql}) insert into ?? (${list}) select ${cols.map(() => 'r.??').join(', ')} from changed, json_populate_record(null::??, ?::json) as r`,
    [...changed.bindings, table, ...cols, ...cols, table, JSON.stringify(row)],
  )) as { rowCount: number };
  return result.rowCount === 1;
}

interface SqliteStatement {
  run(bindings: unknown[]): { changes: number };
}
interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  readonly inTransaction: boolean;
}
interface PooledClient {
  acquireConnection(): Promise<SqliteConnection>;
  releaseConnection(conn: SqliteConnection): Promise<void>;
  _formatBindings(bindings: readonly unknown[]): unknown[];
}

/**
 * SQLite only: runs `body`'s writes as one transaction, synchronously, on the pooled connection
 * (`run` returns the rows a statement changed). A knex transaction costs several times the
 * statements it wraps in knex's own JavaScript (a transaction client per call, promise chains per
 * statement); the workflow engine records two statements per step, so this is its hot path.
 * The connection is taken from knex's pool, so this never lands inside somebody else's open
 * transaction, and nothing else runs on the connection until it commits: better-sqlite3 is
 * synchronous. BEGIN IMMEDIATE takes the write lock first (waiting out another process's writer
 * through busy_timeout), so the transaction cannot fail half-way on a stale read snapshot.
 */
async function sqliteAtomically<T>(knex: Knex, body: (run: (query: Knex.QueryBuilder) => number) => T): Promise<T> {
  const client = knex.client as unknown as PooledClient;
  const conn = await client.acquireConnection();
  try {
    conn.prepare('begin immediate').run([]);
    try {
      const result = body((query) => {
        const { sql, bindings } = query.toSQL().toNative();
        try {
          return conn.prepare(sql).run(client._formatBindings(bindings)).changes;
        } catch (err) {
          // Named like knex names a failed statement, so a log says which one failed; without the
          // bindings, which may hold sealed secrets.
          if (typeof (err as { message?: unknown }).message === 'string') (err as Error).message = `${sql} - ${(err as Error).message}`;
          throw err;
        }
      });
      conn.prepare('commit').run([]);
      return result;
    } catch (err) {
      // SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR...).
      if (conn.inTransaction) conn.prepare('rollback').run([]);
      throw err;
    }
  } finally {
    await client.releaseConnection(conn);
  }
}

/** ISO string for "now" from a Clock-like source. */
export function isoNow(clock: { now(): Date }): string {
  return clock.now().toISOString();
}
