import { parseCommandArgs, CONFIG_FLAGS_HELP } from '../args.js';
import { openCliContext } from '../context.js';
import { UsageError } from '../io.js';
import type { CommandRun } from './types.js';

export const MIGRATE_USAGE = `Usage: anvil migrate latest|rollback|status [options]

  latest     apply every pending migration
  rollback   undo the last batch of migrations
  status     list applied and pending migrations

${CONFIG_FLAGS_HELP}`;

export const runMigrate: CommandRun = async (argv, flags, env) => {
  const { positionals } = parseCommandArgs(argv, {}, MIGRATE_USAGE);
  const [action, ...extra] = positionals;
  if (!action || !['latest', 'rollback', 'status'].includes(action)) {
    throw new UsageError(action ? `unknown migrate action "${action}"` : 'migrate needs an action', MIGRATE_USAGE);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, MIGRATE_USAGE);
  const ctx = await openCliContext(env.loadConfig(flags), { io: env.io, migrate: false });
  try {
    if (action === 'latest') {
      const [, applied] = (await ctx.knex.migrate.latest()) as [number, string[]];
      ctx.stdout(applied.length === 0 ? 'already up to date\n' : applied.map((m) => `applied ${m}\n`).join(''));
    } else if (action === 'rollback') {
      const [, undone] = (await ctx.knex.migrate.rollback()) as [number, string[]];
      ctx.stdout(undone.length === 0 ? 'nothing to roll back\n' : undone.map((m) => `rolled back ${m}\n`).join(''));
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
