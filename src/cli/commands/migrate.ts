import type { Knex } from 'knex';
import { intOption, parseCommandArgs, CONFIG_FLAGS_HELP } from '../args.js';
import { openCliContext, type CliContext } from '../context.js';
import { UsageError } from '../io.js';
import type { CommandRun } from './types.js';

export const MIGRATE_USAGE = `Usage: anvil migrate latest|rollback|status [options]

  latest                       apply every pending migration
  rollback [--steps N] --yes   undo the newest applied migration (N: the N newest), one at a time;
                               without --yes, only print what would be undone and exit 2.
                               Down migrations drop tables and columns, and the data in them.
  status                       list applied and pending migrations

${CONFIG_FLAGS_HELP}`;

export const runMigrate: CommandRun = async (argv, flags, env) => {
  const { values, positionals } = parseCommandArgs(argv, { yes: { type: 'boolean' }, steps: { type: 'string' } }, MIGRATE_USAGE);
  const [action, ...extra] = positionals;
  if (!action || !['latest', 'rollback', 'status'].includes(action)) {
    throw new UsageError(action ? `unknown migrate action "${action}"` : 'migrate needs an action', MIGRATE_USAGE);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, MIGRATE_USAGE);
  if (action !== 'rollback' && (values.yes !== undefined || values.steps !== undefined)) {
    throw new UsageError('--yes and --steps are for migrate rollback', MIGRATE_USAGE);
  }
  const steps = intOption(values.steps, '--steps', { min: 1 }, MIGRATE_USAGE) ?? 1;
  const ctx = await openCliContext(env.loadConfig(flags), { io: env.io, migrate: false });
  try {
    if (action === 'latest') {
      const [, applied] = (await ctx.knex.migrate.latest()) as [number, string[]];
      ctx.stdout(applied.length === 0 ? 'already up to date\n' : applied.map((m) => `applied ${m}\n`).join(''));
    } else if (action === 'rollback') {
      await rollback(ctx, steps, values.yes === true);
    } else {
      const [done, pending] = (await ctx.knex.migrate.list()) as [{ name: string }[], { file: string }[] | string[]];
      for (const m of done) ctx.stdout(`applied  ${m.name}\n`);
      for (const m of pending) ctx.stdout(`pending  ${typeof m === 'string' ? m : m.file}\n`);
    }
    return 0;
  } finally {
    await ctx.close();
  }
};

/**
 * Undoes the `steps` newest applied migrations, newest first. Not knex's rollback(): that undoes
 * the last batch, and every install that migrated on start has all migrations in one batch, so it
 * emptied the whole database. Each step is one migrate.down() naming the migration, so what runs
 * is exactly what was listed, and a failure stops after the steps already printed.
 */
async function rollback(ctx: CliContext, steps: number, confirmed: boolean): Promise<void> {
  const targets = await newestApplied(ctx.knex, steps);
  if (targets.length === 0) {
    ctx.stdout('nothing to roll back\n');
    return;
  }
  if (!confirmed) {
    ctx.stderr(targets.map((m) => `would roll back ${m}\n`).join(''));
    throw new UsageError(
      `migrate rollback drops tables and columns and the data in them; run it again with --yes to roll back ${plural(targets.length)}`,
    );
  }
  for (const name of targets) {
    const [, undone] = (await ctx.knex.migrate.down({ name })) as [number, string[]];
    for (const m of undone) ctx.stdout(`rolled back ${m}\n`);
  }
}

/**
 * The `count` newest applied migrations, newest first, as migrate.down() picks them (the last in
 * file-name order among the applied ones). More than are applied is a usage error, not "all": a
 * typo in N must not empty the database.
 */
async function newestApplied(knex: Knex, count: number): Promise<string[]> {
  const [done] = (await knex.migrate.list()) as [{ name: string }[], unknown[]];
  const applied = done.map((m) => m.name).sort();
  if (applied.length > 0 && count > applied.length) {
    throw new UsageError(`--steps ${count}: only ${plural(applied.length)} applied`);
  }
  return applied.slice(-count).reverse();
}

function plural(n: number): string {
  return `${n} migration${n === 1 ? '' : 's'}`;
}
