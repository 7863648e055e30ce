import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { connect } from '../../../src/db/connect.js';
import { isUniqueViolation, updateThenInsert } from '../../../src/db/sql.js';
import { createTestDatabase, testDatabases, type TestDatabase } from '../../support/databases.js';

async function createTables(knex: Knex): Promise<void> {
  await knex.schema.createTable('items', (t) => {
    t.string('id').primary();
    t.integer('n').notNullable();
  });
  await knex.schema.createTable('item_log', (t) => {
    t.string('id').primary();
    t.string('item_id').notNullable();
  });
}

describe.each(testDatabases())('updateThenInsert on %s', (dialect) => {
  let db: TestDatabase;
  let knex: Knex;

  beforeEach(async () => {
    db = await createTestDatabase(dialect);
    knex = db.knex;
    await createTables(knex);
    await knex('items').insert([{ id: 'a', n: 1 }, { id: 'b', n: 1 }]);
  });

  afterEach(async () => {
    await db.destroy();
  });

  it('updates and inserts together, and inserts nothing when the update matched no row', async () => {
    expect(await updateThenInsert(knex, knex('items').where({ id: 'a', n: 1 }).update({ n: 2 }), 'item_log', { id: 'l1', item_id: 'a' })).toBe(true);
    expect(await updateThenInsert(knex, knex('items').where({ id: 'a', n: 1 }).update({ n: 3 }), 'item_log', { id: 'l2', item_id: 'a' })).toBe(false);
    expect(await knex('items').where({ id: 'a' }).first('n')).toEqual({ n: 2 });
    expect(await knex('item_log').pluck('id')).toEqual(['l1']);
  });

  it('keeps neither when the insert fails', async () => {
    await knex('item_log').insert({ id: 'taken', item_id: 'b' });
    // Checked by code: better-sqlite3's error class may come from another test file's realm.
    const failure = await updateThenInsert(knex, knex('items').where({ id: 'a' }).update({ n: 5 }), 'item_log', { id: 'taken', item_id: 'a' }).then(() => null, (err: unknown) => err);
    expect(isUniqueViolation(failure)).toBe(true);
    expect((failure as Error).message).toMatch(/insert into [`"]item_log[`"].* - .*(UNIQUE|unique)/);
    expect(await knex('items').where({ id: 'a' }).first('n')).toEqual({ n: 1 });
    // The connection is usable afterwards (no transaction left open on it).
    expect(await updateThenInsert(knex, knex('items').where({ id: 'a' }).update({ n: 6 }), 'item_log', { id: 'l3', item_id: 'a' })).toBe(true);
    expect(await knex('items').where({ id: 'a' }).first('n')).toEqual({ n: 6 });
  });

  it('does not become part of a transaction that is open on the pool, and survives its rollback', async () => {
    let inside!: () => void;
    const trxOpen = new Promise<void>((r) => { inside = r; });
    let finishTrx!: () => void;
    const trxMayEnd = new Promise<void>((r) => { finishTrx = r; });
    const trx = knex.transaction(async (t) => {
      await t('items').where({ id: 'b' }).update({ n: 100 });
      inside();
      await trxMayEnd;
      throw new Error('roll back');
    });
    await trxOpen;
    const recorded = updateThenInsert(knex, knex('items').where({ id: 'a' }).update({ n: 7 }), 'item_log', { id: 'l4', item_id: 'a' });
    finishTrx();
    await expect(trx).rejects.toThrow('roll back');
    expect(await recorded).toBe(true);
    expect(await knex('items').orderBy('id').pluck('n')).toEqual([7, 1]);
    expect(await knex('item_log').pluck('id')).toEqual(['l4']);
  });

  it('joins the transaction it is given', async () => {
    await expect(knex.transaction(async (t) => {
      expect(await updateThenInsert(t, t('items').where({ id: 'a' }).update({ n: 8 }), 'item_log', { id: 'l5', item_id: 'a' })).toBe(true);
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    expect(await knex('items').where({ id: 'a' }).first('n')).toEqual({ n: 1 });
    expect(await knex('item_log').count({ c: '*' }).first()).toEqual({ c: dialect === 'sqlite' ? 0 : '0' });
  });
});

/**
 * Several processes on one SQLite file (src/db/connect.ts): a transaction that reads and then
 * writes must not fail because another process committed in between. The other process is a
 * thread with its own connection, so its busy wait does not block this event loop.
 */
describe('SQLite transactions between connections', () => {
  let dir: string;
  let knex: Knex;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anvil-sqlite-trx-'));
    knex = connect({ dialect: 'sqlite', location: join(dir, 'db.sqlite') });
    await createTables(knex);
    await knex('items').insert({ id: 'a', n: 1 });
  });

  afterEach(async () => {
    await knex.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Another connection, in a thread, that increments item a once told to. It reports when its
   * connection is open, when it is about to write, and when its write has committed.
   */
  async function otherWriter(): Promise<{ write(): { trying: Promise<void>; done: Promise<void> }; stop(): Promise<number> }> {
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const Database = require(workerData.driver);
      const db = new Database(workerData.file);
      db.pragma('busy_timeout = 5000');
      parentPort.on('message', () => {
        parentPort.postMessage({ trying: true });
        try {
          db.prepare('update items set n = n + 10 where id = ?').run('a');
          parentPort.postMessage({ ok: true });
        } catch (err) {
          parentPort.postMessage({ ok: false, error: String(err && err.code || err) });
        }
      });
      parentPort.postMessage({ ready: true });`;
    const thread = new Worker(source, { eval: true, workerData: { file: join(dir, 'db.sqlite'), driver: createRequire(import.meta.url).resolve('better-sqlite3') } });
    await new Promise<void>((resolve, reject) => {
      thread.once('message', () => resolve());
      thread.once('error', reject);
    });
    return {
      write() {
        let trying!: () => void;
        const tryingP = new Promise<void>((r) => { trying = r; });
        const done = new Promise<void>((resolve, reject) => {
          const onMessage = (m: { trying?: boolean; ok?: boolean; error?: string }) => {
            if (m.trying) return trying();
            thread.off('message', onMessage);
            if (m.ok) resolve();
            else reject(new Error(m.error));
          };
          thread.on('message', onMessage);
        });
        thread.postMessage('write');
        return { trying: tryingP, done };
      },
      stop: () => thread.terminate(),
    };
  }

  it('a read-then-write transaction waits for the other writer instead of failing on a stale snapshot', async () => {
    const other = await otherWriter();
    try {
      let otherDone: Promise<void> | null = null;
      let committed = false;
      let otherAfterCommit = false;
      await knex.transaction(async (trx) => {
        const { n } = (await trx('items').where({ id: 'a' }).first('n')) as { n: number };
        // The other connection writes while this transaction has read. With the write lock taken at
        // BEGIN it must wait for our commit; without it, it would commit now and our write would fail.
        const write = other.write();
        otherDone = write.done.then(() => { otherAfterCommit = committed; });
        await write.trying;
        await new Promise((r) => setTimeout(r, 100));
        await trx('items').where({ id: 'a' }).update({ n: n + 1 });
      });
      committed = true;
      await otherDone;
      expect(otherAfterCommit).toBe(true);
      // Both increments landed, ours first: 1 + 1 + 10.
      expect(await knex('items').where({ id: 'a' }).first('n')).toEqual({ n: 12 });
    } finally {
      await other.stop();
    }
  });
});
