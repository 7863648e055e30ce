import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../config/load.js';
import { isAnvilError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { CONFIG_FLAGS_HELP, splitConfigFlags, wantsHelp } from './args.js';
import { runInventory } from './commands/inventory.js';
import { MIGRATE_USAGE, runMigrate } from './commands/migrate.js';
import { SERVE_USAGE, runServe } from './commands/serve.js';
import { SWEEP_USAGE, runSweep } from './commands/sweep.js';
import { INCIDENT_USAGE, runIncident } from './commands/incident.js';
import { TOKEN_USAGE, runToken } from './commands/token.js';
import { MACHINE_USAGE, runMachine } from './commands/machine.js';
import { ORDER_USAGE, runOrder } from './commands/order.js';
import { LAB_USAGE, runLab } from './commands/lab.js';
import { SECRETS_USAGE, runSecrets } from './commands/secrets.js';
import type { CommandEnv, CommandRun } from './commands/types.js';
import { openCliContext } from './context.js';
import { processIo, UsageError, type CliIo } from './io.js';

export const INVENTORY_USAGE = `Usage:
  anvil inventory import FILE [--dry-run]   create/update sites, racks and machines from a YAML file (all or nothing)
  anvil inventory export [--with-secrets]   print the inventory as YAML (BMC passwords only with --with-secrets)

${CONFIG_FLAGS_HELP}`;

interface Command {
  summary: string;
  usage: string;
  run: CommandRun;
}

const runInventoryCommand: CommandRun = async (argv, flags, env) => {
  const ctx = await openCliContext(env.loadConfig(flags), { io: env.io });
  try {
    return await runInventory(argv, ctx);
  } finally {
    await ctx.close();
  }
};

const COMMANDS: Record<string, Command> = {
  serve: { summary: 'run the roles: API, worker, boot services, sweeper', usage: SERVE_USAGE, run: runServe },
  migrate: { summary: 'apply, roll back or list database migrations', usage: MIGRATE_USAGE, run: runMigrate },
  token: { summary: 'create, list and revoke API tokens', usage: TOKEN_USAGE, run: runToken },
  secrets: { summary: 'show which keys sealed the stored secrets, re-seal them, rotate the key file', usage: SECRETS_USAGE, run: runSecrets },
  inventory: { summary: 'import or export the inventory (sites, racks, machines) as YAML', usage: INVENTORY_USAGE, run: runInventoryCommand },
  machine: { summary: 'power, boot device, inspection and verification through the BMC', usage: MACHINE_USAGE, run: runMachine },
  order: { summary: 'list orders and show one with its delivery clock', usage: ORDER_USAGE, run: runOrder },
  sweep: { summary: 'run a hardware health sweep of a site or machine now', usage: SWEEP_USAGE, run: runSweep },
  incident: { summary: 'list, show, acknowledge, annotate and resolve incidents', usage: INCIDENT_USAGE, run: runIncident },
  lab: { summary: 'run the whole lifecycle on this machine with simulated servers', usage: LAB_USAGE, run: runLab },
};

export const USAGE = `Usage: anvil <command> [arguments] [options]

Anvil keeps a fleet of bare-metal servers moving through their lifecycle.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(11)}${c.summary}`)
  .join('\n')}
  help CMD   show help for a command

${CONFIG_FLAGS_HELP}

Run 'anvil <command> --help' for a command's arguments.`;

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code:
 * 0 ok, 1 the operation failed, 2 wrong usage or invalid configuration. Errors print one line
 * (`anvil: <message>`), never a stack trace.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(`${USAGE}\n`);
    return 2;
  }
  if (name === '--help' || name === '-h') {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  if (name === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    const command = COMMANDS[topic];
    if (!command) return usageFailure(io, `unknown command "${topic}"`, USAGE);
    io.stdout(`${command.usage}\n`);
    return 0;
  }
  if (name === '--version' || name === 'version') {
    const { ANVIL_VERSION } = await import('../api/routes/meta.js');
    io.stdout(`anvil ${ANVIL_VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) return usageFailure(io, `unknown command "${name}"`, USAGE);
  // The inventory command module prints its own help for subcommands, so only intercept bare --help.
  if (wantsHelp(rest) && (name !== 'inventory' || rest.length === 1)) {
    io.stdout(`${command.usage}\n`);
    return 0;
  }
  const env: CommandEnv = { io, loadConfig: (flags) => loadConfig({ flags, env: io.env }) };
  try {
    const { flags, rest: commandArgs } = splitConfigFlags(rest, command.usage);
    return await command.run(commandArgs, flags, env);
  } catch (err) {
    return reportError(io, err);
  }
}

function usageFailure(io: CliIo, message: string, usage: string): number {
  io.stderr(`anvil: ${message}\n\n${usage}\n`);
  return 2;
}

/** One line per failure; exit 2 for usage and configuration, 1 for everything else. */
export function reportError(io: CliIo, err: unknown): number {
  if (err instanceof UsageError) {
    io.stderr(`anvil: ${oneLine(err.message)}\n${err.usage ? `\n${err.usage}\n` : ''}`);
    return 2;
  }
  if (err instanceof ConfigError) {
    io.stderr(`anvil: ${oneLine(err.message)}\n`);
    return 2;
  }
  if (isAnvilError(err)) {
    io.stderr(`anvil: ${oneLine(err.message)}\n`);
    return 1;
  }
  const e = err as { message?: string; code?: string };
  const message = e?.message ? oneLine(e.message) : String(err);
  io.stderr(`anvil: ${describeSystemError(e?.code, message)}\n`);
  return 1;
}

function describeSystemError(code: string | undefined, message: string): string {
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '28P01' || code === '3D000') return `cannot use the database: ${message}`;
  return message;
}

function oneLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

/** True when this module is the program (bin/anvil.js or `node dist/src/cli/main.js`), not an import. */
function isEntrypoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    const real = realpathSync(script);
    return real === fileURLToPath(import.meta.url) || real === join(packageRoot, 'bin', 'anvil.js');
  } catch {
    return false;
  }
}

if (isEntrypoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`anvil: ${(err as Error)?.message ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
