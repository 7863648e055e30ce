import type { Knex } from 'knex';
import { connect } from '../../../src/db/connect.js';

/** SQLite connections keep prepared statements by SQL text (src/db/connect.ts). */
describe('SQLite prepared statement cache', () => {
  let knex: Knex;

  beforeEach(async () => {
    knex = connect({ dialect: 'sqlite', location: ':memory:' });
    await knex.schema.createTable('t', (t) => {
      t.string('id').primary();
      t.integer('n');
    });
  });

  afterEach(async () => {
    await knex.destroy();
  });

  it('prepares a statement once per SQL text', async () => {
    const conn = (await knex.client.acquireConnection()) as { prepare(sql: string): unknown };
    try {
      expect(conn.prepare('select * from t where id = ?')).toBe(conn.prepare('select * from t where id = ?'));
      expect(conn.prepare('select * from t where id = ?')).not.toBe(conn.prepare('select n from t where id = ?'));
    } finally {
      await knex.client.releaseConnection(conn);
    }
  });

  it('runs cached statements with new bindings, in and out of transactions', async () => {
    for (let i = 0; i < 5; i++) await knex('t').insert({ id: `r${i}`, n: i });
    await knex.transaction(async (trx) => {
      await trx('t').where({ id: 'r1' }).update({ n: 10 });
      await trx('t').where({ id: 'r2' }).update({ n: 20 });
    });
    await expect(knex.transaction(async (trx) => {
      await trx('t').where({ id: 'r3' }).update({ n: 30 });
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    expect(await knex('t').orderBy('id').pluck('n')).toEqual([0, 10, 20, 3, 4]);
    const duplicate = await knex('t').insert({ id: 'r0', n: 1 }).then(() => null, (err: Error) => err);
    expect(duplicate?.message).toMatch(/UNIQUE constraint failed/);
    expect(await knex('t').where({ id: 'r4' }).first('n')).toEqual({ n: 4 });
  });

  it('sees schema changes made after a statement was cached', async () => {
    await knex('t').insert({ id: 'a', n: 1 });
    expect(await knex('t').select('*')).toEqual([{ id: 'a', n: 1 }]);
    await knex.schema.alterTable('t', (t) => {
      t.string('note').nullable();
    });
    expect(await knex('t').select('*')).toEqual([{ id: 'a', n: 1, note: null }]);
  });
});
