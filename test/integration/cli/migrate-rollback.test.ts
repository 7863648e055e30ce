import { join } from 'node:path';
import { migrationSource } from '../../../src/db/migration-source.js';
import { packageRoot } from '../../../src/paths.js';
import { testDatabases } from '../../support/databases.js';
import { useCliDatabase } from '../../support/cli.js';

// The test database is migrated in one batch, like every install that migrated on start: knex's
// rollback() undid all of it.
describe.each(testDatabases())('anvil migrate rollback on %s', (dialect) => {
  const cli = useCliDatabase(dialect, 'anvil-migrate-rollback-');
  let all: string[];
  // What the newest migrations add; checking it shows whether their down() ran.
  const hasIndex = async (name: string): Promise<boolean> =>
    dialect === 'sqlite'
      ? !!(await cli.db.knex('sqlite_master').where({ type: 'index', name }).first('name'))
      : !!(await cli.db.knex('pg_indexes').where({ indexname: name }).whereRaw('schemaname = current_schema()').first('indexname'));
  const effectOf: Record<string, () => Promise<boolean>> = {
    '20261126008000_orders_external_id': () => hasIndex('orders_external_id_index'),
    '20261126007000_workflow_waiting_on': () => cli.db.knex.schema.hasColumn('workflows', 'waiting_on'),
    '20261126006000_workflow_wakeups': () => cli.db.knex.schema.hasColumn('workflows', 'wake_seq'),
  };
  const applies = async (migration: string | undefined): Promise<boolean> => {
    const effect = effectOf[migration!];
    if (!effect) throw new Error(`no effect known for migration ${migration}: add it to effectOf`);
    return effect();
  };

  const applied = async (): Promise<string[]> => (await cli.db.knex('knex_migrations').orderBy('id').pluck('name')).map(String);
  const counts = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const table of ['sites', 'racks', 'machines', 'machine_bmcs', 'nics', 'api_tokens', 'audit_log']) {
      const [row] = await cli.db.knex(table).count({ n: '*' });
      out[table] = Number(row?.n);
    }
    return out;
  };

  beforeAll(async () => {
    all = await migrationSource.getMigrations([]);
    expect(all.length).toBeGreaterThanOrEqual(4);
    expect((await cli.run(['inventory', 'import', join(packageRoot, 'inventory.example.yaml')])).code).toBe(0);
    expect((await cli.run(['token', 'create', '--role', 'admin', '--name', 'ops'])).code).toBe(0);
  });

  it('without --yes prints what it would undo, changes nothing and exits 2', async () => {
    const before = await counts();
    const one = await cli.run(['migrate', 'rollback']);
    expect(one.code).toBe(2);
    expect(one.stdout).toBe('');
    expect(one.messages).toEqual([
      `would roll back ${all.at(-1)}`,
      'anvil: migrate rollback drops tables and columns and the data in them; run it again with --yes to roll back 1 migration',
    ]);
    const two = await cli.run(['migrate', 'rollback', '--steps', '2']);
    expect(two.code).toBe(2);
    expect(two.messages.slice(0, 2)).toEqual([`would roll back ${all.at(-1)}`, `would roll back ${all.at(-2)}`]);
    expect(two.messages[2]).toMatch(/--yes to roll back 2 migrations$/);
    expect(await applied()).toEqual(all);
    expect(await applies(all.at(-1))).toBe(true);
    expect(await counts()).toEqual(before);
  });

  it('refuses a bad --steps, and --yes/--steps on other actions, with exit 2', async () => {
    for (const argv of [
      ['migrate', 'rollback', '--yes', '--steps', '0'],
      ['migrate', 'rollback', '--yes', '--steps', 'two'],
      ['migrate', 'rollback', '--yes', '--steps', '-1'],
      ['migrate', 'rollback', '--yes', '--steps', String(all.length + 1)],
      ['migrate', 'latest', '--yes'],
      ['migrate', 'status', '--steps', '1'],
    ]) {
      const r = await cli.run(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
    }
    expect((await cli.run(['migrate', 'rollback', '--yes', '--steps', 'two'])).messages[0]).toBe(
      'anvil: --steps must be a whole number of at least 1 (got "two")',
    );
    expect((await cli.run(['migrate', 'rollback', '--yes', '--steps', String(all.length + 1)])).messages[0]).toBe(
      `anvil: --steps ${all.length + 1}: only ${all.length} migrations applied`,
    );
    expect(await applied()).toEqual(all);
  });

  it('with --yes undoes only the newest migration and prints it; the rest and their data stay', async () => {
    const before = await counts();
    const r = await cli.run(['migrate', 'rollback', '--yes']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`rolled back ${all.at(-1)}\n`);
    expect(await applied()).toEqual(all.slice(0, -1));
    expect(await applies(all.at(-1))).toBe(false);
    expect(await applies(all.at(-2))).toBe(true);
    expect(await counts()).toEqual(before);
  });

  it('--steps 2 undoes the next two, newest first', async () => {
    const before = await counts();
    const r = await cli.run(['migrate', 'rollback', '--yes', '--steps', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`rolled back ${all.at(-2)}\nrolled back ${all.at(-3)}\n`);
    expect(await applied()).toEqual(all.slice(0, -3));
    expect(await applies(all.at(-2))).toBe(false);
    expect(await counts()).toEqual(before);
  });

  it('migrate latest applies them again, keeping the data', async () => {
    const before = await counts();
    const r = await cli.run(['migrate', 'latest']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(all.slice(-3).map((m) => `applied ${m}\n`).join(''));
    expect(await applied()).toEqual(all);
    for (const m of all.slice(-3)) expect(await applies(m)).toBe(true);
    expect(await counts()).toEqual(before);
  });
});
