import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { connect, migrateLatest, type DatabaseTarget } from '../../src/db/connect.js';

/**
 * Per-dialect fixtures for integration tests. SQLite runs in memory; PostgreSQL runs when
 * TEST_DATABASE_URL is set, each test database in a fresh schema that is dropped afterwards.
 * Use as `describe.each(testDatabases())('... on %s', (dialect) => { const db = useTestDatabase(dialect); ... })`.
 */
export type TestDialect = 'sqlite' | 'postgres';

export function testDatabases(): TestDialect[] {
  return process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TestDatabase {
  knex: Knex;
  target: DatabaseTarget;
  /** A DATABASE_URL for child processes (a file for SQLite, the schema for PostgreSQL). */
  url: string;
  destroy(): Promise<void>;
}

/** Creates a fresh, migrated database of the given dialect. */
export async function createTestDatabase(dialect: TestDialect, opts: { file?: string; poolMax?: number } = {}): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const location = opts.file ?? ':memory:';
    const target: DatabaseTarget = { dialect: 'sqlite', location };
    const knex = connect(target);
    await migrateLatest(knex);
    return { knex, target, url: `sqlite:${location}`, destroy: () => knex.destroy() };
  }
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set');
  const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
  await admin.raw(`create schema ${schema}`);
  await admin.destroy();
  const target: DatabaseTarget = { dialect: 'postgres', location: base, schema };
  const knex = connect(target, { poolMax: opts.poolMax ?? 5 });
  await migrateLatest(knex);
  const sep = base.includes('?') ? '&' : '?';
  return {
    knex,
    target,
    url: `${base}${sep}schema=${schema}`,
    async destroy() {
      await knex.destroy();
      const cleanup = knexFactory({ client: 'pg', connection: base, pool: { min: 0, max: 1 } });
      await cleanup.raw(`drop schema if exists ${schema} cascade`);
      await cleanup.destroy();
    },
  };
}

/** Registers beforeAll/afterAll hooks and returns a holder whose `.db` is ready inside tests. */
export function useTestDatabase(dialect: TestDialect): { readonly db: TestDatabase; readonly knex: Knex } {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await db?.destroy();
  });
  return {
    get db() {
      if (!db) throw new Error('test database not ready (use it inside a test)');
      return db;
    },
    get knex() {
      if (!db) throw new Error('test database not ready (use it inside a test)');
      return db.knex;
    },
  };
}
