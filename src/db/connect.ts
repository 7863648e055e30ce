import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { InputError } from '../errors.js';
import { migrationSource } from './migration-source.js';

export type Dialect = 'sqlite' | 'postgres';

export interface DatabaseTarget {
  dialect: Dialect;
  /** SQLite file path (or `:memory:`), or the PostgreSQL connection string. */
  location: string;
  /** PostgreSQL schema to use instead of `public` (tests give each file its own). */
  schema?: string;
}

export const DEFAULT_SQLITE_PATH = './data/anvil.sqlite';

/**
 * `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite:PATH`, `sqlite://PATH` or a plain path → SQLite.
 * A `schema` query parameter on a PostgreSQL URL selects the schema.
 */
export function parseDatabaseUrl(url: string | undefined): DatabaseTarget {
  const value = (url ?? '').trim() || DEFAULT_SQLITE_PATH;
  if (/^postgres(ql)?:\/\//.test(value)) {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new InputError('DATABASE_URL: not a valid PostgreSQL URL');
    }
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) {
      throw new InputError('DATABASE_URL: schema must be a lower-case SQL identifier');
    }
    return { dialect: 'postgres', location: parsed.toString(), ...(schema ? { schema } : {}) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !value.startsWith('sqlite:')) {
    throw new InputError(`DATABASE_URL: unsupported scheme in "${value.split('://')[0]}://…" (use postgres:// or sqlite:PATH)`);
  }
  const path = value.replace(/^sqlite:(\/\/)?/, '');
  if (path === '') throw new InputError('DATABASE_URL: sqlite: needs a file path');
  return { dialect: 'sqlite', location: path };
}

export interface ConnectOptions {
  /** PostgreSQL pool size. SQLite always uses one connection (a single writer). */
  poolMax?: number;
}

export function connect(target: DatabaseTarget, options: ConnectOptions = {}): Knex {
  if (target.dialect === 'sqlite') {
    const filename = target.location === ':memory:' ? ':memory:' : resolve(target.location);
    if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true });
    return knexFactory({
      client: 'better-sqlite3',
      connection: { filename },
      useNullAsDefault: true,
      // One connection: SQLite has a single writer, and an in-memory database exists per connection.
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: { pragma(s: string): unknown; prepare(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
          try {
            cachePreparedStatements(conn);
            beginImmediate(conn);
            conn.pragma('foreign_keys = ON');
            conn.pragma('journal_mode = WAL');
            conn.pragma('synchronous = NORMAL');
            // Several anvil processes (CLI next to a server) may share the file.
            conn.pragma('busy_timeout = 5000');
            done(null, conn);
          } catch (err) {
            done(err as Error, conn);
          }
        },
      },
      migrations: { migrationSource },
    });
  }
  return knexFactory({
    client: 'pg',
    connection: { connectionString: target.location },
    searchPath: target.schema ? [target.schema] : undefined,
    pool: { min: 0, max: options.poolMax ?? 10 },
    migrations: { migrationSource, ...(target.schema ? { schemaName: target.schema } : {}) },
  });
}

/**
 * knex prepares every query anew, and with better-sqlite3 compiling the SQL costs more than
 * running it for the small statements Anvil issues (measured: about a third of the database time
 * of the orders benchmark). The connection's `prepare` keeps the most recently used statements by
 * SQL text instead; knex runs a statement at once and never iterates it, so sharing one is safe,
 * and SQLite re-prepares a cached statement by itself after a schema change.
 */
function cachePreparedStatements(conn: { prepare(sql: string): unknown }, max = 512): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, unknown>();
  conn.prepare = (sql: string) => {
    let statement = cache.get(sql);
    if (statement !== undefined) {
      // Map order is recency order: move the hit to the end.
      cache.delete(sql);
    } else {
      statement = prepare(sql);
      if (cache.size >= max) cache.delete(cache.keys().next().value as string);
    }
    cache.set(sql, statement);
    return statement;
  };
}

/**
 * knex opens every SQLite transaction with a deferred BEGIN. With several processes on one file (a
 * CLI beside the server, or two servers), a transaction that reads and then writes fails with
 * SQLITE_BUSY_SNAPSHOT when another process committed in between, and busy_timeout cannot wait that
 * out. BEGIN IMMEDIATE takes the write lock first, waiting for the other writer through busy_timeout
 * instead. Anvil's transactions are there to write, so taking the lock at BEGIN costs them nothing
 * they would not wait for at their first write.
 */
function beginImmediate(conn: { prepare(sql: string): unknown }): void {
  const prepare = conn.prepare.bind(conn);
  conn.prepare = (sql: string) => prepare(sql === 'BEGIN;' ? 'BEGIN IMMEDIATE;' : sql);
}

export function dialectOf(knex: Knex): Dialect {
  return String(knex.client.config.client).includes('sqlite') ? 'sqlite' : 'postgres';
}

export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest()) as [number, string[]];
  return applied;
}
