import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { dbNow, dbNowPlus, toIso, toBool, toCount, json, conflictOnDuplicate } from '../../../src/db/sql.js';
import { ConflictError } from '../../../src/errors.js';

describe.each(testDatabases())('database layer on %s', (dialect) => {
  const t = useTestDatabase(dialect);

  it('applies every migration and can roll all of them back and forward again', async () => {
    const [done, pending] = (await t.knex.migrate.list()) as [unknown[], unknown[]];
    expect(done.length).toBeGreaterThan(0);
    expect(pending).toHaveLength(0);
    await t.knex.migrate.rollback(undefined, true);
    expect(await t.knex.schema.hasTable('machines')).toBe(false);
    await t.knex.migrate.latest();
    expect(await t.knex.schema.hasTable('machines')).toBe(true);
  });

  it('rolls back the migrations that drop columns without losing rows of the tables that reference them', async () => {
    const ts = new Date().toISOString();
    await t.knex('sites').insert({ id: 'rs', code: 'RB-1', name: 'Rollback', country: 'MA', city: 'Nouacer', timezone: 'UTC', created_at: ts, updated_at: ts });
    await t.knex('machines').insert({ id: 'rm', serial: 'RB-M1', hardware_profile: 'p', site_id: 'rs', created_at: ts, updated_at: ts });
    await t.knex('nics').insert({ id: 'rn', machine_id: 'rm', mac: '52:54:00:00:00:99', name: 'eno1', pxe: true, created_at: ts, updated_at: ts });
    await t.knex('workflows').insert({ id: 'rw', kind: 'deploy', machine_id: 'rm', status: 'running', step_index: 1, step_attempt: 0, data: '{}', next_run_at: ts, created_at: ts, updated_at: ts });
    await t.knex('workflow_steps').insert({ workflow_id: 'rw', step_index: 0, step: 'start', attempt: 1, outcome: 'done', worker: 'w', started_at: ts, finished_at: ts });
    // Down through waiting_on and wake_seq (workflows' columns): the step history stays.
    const last = (): Promise<string[]> => t.knex('knex_migrations').orderBy('id', 'desc').pluck('name');
    while (!(await last())[0]!.startsWith('20261126004000')) {
      await t.knex.migrate.down();
      expect(await t.knex('workflow_steps').where({ workflow_id: 'rw' }).count({ n: '*' }).first()).toEqual({ n: dialect === 'sqlite' ? 1 : '1' });
    }
    // Down through orders (machines.order_id): the machine's NIC stays.
    while (!(await last())[0]!.startsWith('20261126002000')) await t.knex.migrate.down();
    expect(await t.knex('nics').where({ machine_id: 'rm' }).pluck('id')).toEqual(['rn']);
    await t.knex.migrate.latest();
    await t.knex('nics').where({ id: 'rn' }).delete();
    await t.knex('machines').where({ id: 'rm' }).delete();
    await t.knex('sites').where({ id: 'rs' }).delete();
  });

  it('returns timestamps, booleans, counts and JSON in one form on both dialects', async () => {
    const now = '2026-11-26T10:55:32.123Z';
    await t.knex('sites').insert({
      id: 's1', code: 'MA-NOU1', name: 'Nouacer', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca',
      delivery_window_hours: 24, created_at: now, updated_at: now,
    });
    await t.knex('machines').insert({
      id: 'm1', serial: 'SER1', hardware_profile: 'p1', site_id: 's1', maintenance: true,
      hardware: json.write({ cpu: { count: 2 } }), created_at: now, updated_at: now,
    });
    const row = await t.knex('machines').where({ id: 'm1' }).first();
    expect(toIso(row.created_at)).toBe(now);
    expect(toBool(row.maintenance)).toBe(true);
    expect(json.read(row.hardware, {})).toEqual({ cpu: { count: 2 } });
    const [{ n }] = await t.knex('machines').count({ n: '*' });
    expect(toCount(n)).toBe(1);
  });

  it('compares application timestamps with database time', async () => {
    const past = new Date(Date.now() - 60_000).toISOString();
    const future = new Date(Date.now() + 3_600_000).toISOString();
    await t.knex('api_tokens').insert([
      { id: 'a', name: 'past', role: 'viewer', token_hash: 'h1', prefix: 'p', created_at: past },
      { id: 'b', name: 'future', role: 'viewer', token_hash: 'h2', prefix: 'p', created_at: future },
    ]);
    const older = await t.knex('api_tokens').where('created_at', '<', dbNow(t.knex)).pluck('name');
    expect(older).toEqual(['past']);
    const withinTwoHours = await t.knex('api_tokens').where('created_at', '<', dbNowPlus(t.knex, 7200)).pluck('name');
    expect(withinTwoHours.sort()).toEqual(['future', 'past']);
  });

  it('turns a unique violation into a ConflictError', async () => {
    const insert = () => t.knex('api_tokens').insert({ id: 'c', name: 'past', role: 'viewer', token_hash: 'h3', prefix: 'p', created_at: new Date().toISOString() });
    await expect(conflictOnDuplicate(insert, 'token name taken')).rejects.toBeInstanceOf(ConflictError);
  });
});
