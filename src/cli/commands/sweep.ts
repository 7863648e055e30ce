import { hostname } from 'node:os';
import { createHealthServices } from '../../health/services.js';
import type { SweepProgress } from '../../health/sweeper.js';
import { CONFIG_FLAGS_HELP, intOption, parseCommandArgs } from '../args.js';
import { cliNotifications, openCliContext } from '../context.js';
import { UsageError } from '../io.js';
import { formatTable } from './token.js';
import type { CommandRun } from './types.js';

export const SWEEP_USAGE = `Usage: anvil sweep [--site CODE] [--machine ID|SERIAL] [--concurrency N] [--budget-ms MS]

Runs a health sweep now, in this process, and waits for it: every machine of the site (or of
every site), or one machine. Only one sweep of a site runs at a time across all Anvil processes;
a second one fails with "already running". Shows a progress bar on a terminal, plain progress
lines otherwise, then the machines that are not healthy. Exit 0 when the sweep finished (machines
whose BMC could not be checked are listed as unknown), 1 when it could not run or failed.
  --site CODE        sweep this site only
  --machine ID       sweep this machine only (id or serial)
  --concurrency N    machines checked at once (default 64)
  --budget-ms MS     time budget per machine (default 30000)

${CONFIG_FLAGS_HELP}`;

/** `[#####.....]  512/1000  2 unknown` — redrawn in place with a carriage return. */
export function progressBar(p: Pick<SweepProgress, 'done' | 'total' | 'errors'>, width = 30): string {
  const fraction = p.total === 0 ? 1 : p.done / p.total;
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(p.done).padStart(String(p.total).length)}/${p.total}${p.errors ? `  ${p.errors} unknown` : ''}`;
}

export const runSweep: CommandRun = async (argv, flags, env) => {
  const { values, positionals } = parseCommandArgs(
    argv,
    { site: { type: 'string' }, machine: { type: 'string' }, concurrency: { type: 'string' }, 'budget-ms': { type: 'string' } },
    SWEEP_USAGE,
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, SWEEP_USAGE);
  const concurrency = intOption(values.concurrency, '--concurrency', { min: 1 }, SWEEP_USAGE);
  const budget = intOption(values['budget-ms'], '--budget-ms', { min: 1 }, SWEEP_USAGE);
  const ctx = await openCliContext(env.loadConfig(flags), { io: env.io });
  try {
    const health = createHealthServices({
      knex: ctx.knex,
      secrets: ctx.secrets,
      logger: ctx.logger,
      notifications: cliNotifications(ctx, 'this sweep opens'),
      owner: `${hostname()}:${process.pid}:cli`,
      settings: { ...(concurrency ? { concurrency } : {}), ...(budget ? { machineBudgetMs: budget } : {}) },
    });
    // A progress bar only when writing to a real terminal; pipes and tests get plain lines.
    const tty = env.io.env === process.env && process.stdout.isTTY === true;
    let lastLine = 0;
    let lastDecile = -1;
    const onProgress = (p: SweepProgress): void => {
      if (tty) {
        if (Date.now() - lastLine < 100 && p.done < p.total) return;
        lastLine = Date.now();
        ctx.stdout(`\r${progressBar(p)}`);
        return;
      }
      const decile = Math.floor((p.done / Math.max(1, p.total)) * 10);
      if (decile !== lastDecile && (Date.now() - lastLine >= 2000 || p.done === p.total)) {
        lastDecile = decile;
        lastLine = Date.now();
        ctx.stdout(`sweep ${p.sweepId}: ${p.done}/${p.total} machines checked, ${p.errors} unknown\n`);
      }
    };
    const { sweep, finished } = await health.sweeper.start({
      site: values.site === undefined ? null : String(values.site),
      machine: values.machine === undefined ? null : String(values.machine),
      trigger: 'demand',
      requestedBy: ctx.actor.name,
      onProgress,
    });
    if (!tty) ctx.stdout(`sweep ${sweep.id}: checking ${sweep.total} machines${sweep.site_code ? ` in ${sweep.site_code}` : ''}\n`);
    const result = await finished;
    if (tty) ctx.stdout('\n');
    ctx.stdout(
      `sweep ${result.id} ${result.status}: ${result.done}/${result.total} machines checked, ${result.errors} unknown (BMC not checked), ${((result.duration_ms ?? 0) / 1000).toFixed(1)} s${result.error ? ` — ${result.error}` : ''}\n`,
    );
    const rows = await ctx.knex('machines as m')
      .join('machine_health as h', 'h.machine_id', 'm.id')
      .where('h.last_sweep_id', result.id)
      .whereNot('m.health', 'ok')
      .orderBy('m.serial')
      .select('m.serial', 'm.health', 'm.id');
    if (rows.length > 0) {
      const worst = await ctx.knex('machine_components').whereIn('machine_id', rows.map((r) => r.id)).whereNot('status', 'ok').select('machine_id', 'component', 'status', 'message');
      const byMachine = new Map<string, string>();
      for (const c of worst) if (!byMachine.has(String(c.machine_id))) byMachine.set(String(c.machine_id), `${c.component} ${c.status}: ${c.message}`.slice(0, 100));
      ctx.stdout(formatTable(['MACHINE', 'HEALTH', 'FIRST FINDING'], rows.map((r) => [String(r.serial), String(r.health), byMachine.get(String(r.id)) ?? '-'])));
    }
    return result.status === 'done' ? 0 : 1;
  } finally {
    await ctx.close();
  }
};
