import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { ConfigFlags } from '../config/load.js';
import { UsageError } from './io.js';

/** Flags every command accepts (they select the database and logging). */
const CONFIG_FLAGS: Record<string, keyof ConfigFlags> = {
  '--config': 'config',
  '--database-url': 'databaseUrl',
  '--data-dir': 'dataDir',
  '--log-level': 'logLevel',
};

export const CONFIG_FLAGS_HELP = `Options for every command:
  --config FILE        read settings from a YAML file (or set ANVIL_CONFIG)
  --database-url URL   postgres://… or sqlite:PATH (or DATABASE_URL; default ./data/anvil.sqlite)
  --data-dir DIR       where the generated secret key lives (or ANVIL_DATA_DIR)
  --log-level LEVEL    trace, debug, info, warn, error or fatal (or ANVIL_LOG_LEVEL)
  -h, --help           show help`;

/**
 * Takes the shared config flags out of `argv` (in `--flag VALUE` or `--flag=VALUE` form) and
 * returns them with the remaining arguments, which the command parses itself.
 */
export function splitConfigFlags(argv: readonly string[], usage?: string): { flags: ConfigFlags; rest: string[] } {
  const flags: ConfigFlags = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const key = CONFIG_FLAGS[name];
    if (!key) {
      rest.push(arg);
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`${name} needs a value`, usage);
    flags[key] = value;
  }
  return { flags, rest };
}

/** node:util parseArgs, with its errors turned into UsageError (exit 2). */
export function parseCommandArgs<T extends ParseArgsConfig['options']>(
  argv: string[],
  options: T,
  usage: string,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: options ?? {}, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!, usage);
  }
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/**
 * The value of a `--option` that takes one of `choices`, or undefined when it is absent. A wrong
 * value is a usage error (exit 2) naming the option and every valid value, so it never reaches a
 * service whose InputError would exit 1 with the API's field name instead of the option.
 */
export function choiceOption<C extends string>(
  value: string | boolean | undefined,
  option: string,
  choices: readonly C[],
  usage: string,
): C | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as C;
  throw new UsageError(`${option} must be one of ${choices.join(', ')} (got "${String(value)}")`, usage);
}

/** The value of a `--option` that takes a whole number in [min, max], or undefined when absent. */
export function intOption(
  value: string | boolean | undefined,
  option: string,
  range: { min: number; max?: number },
  usage: string,
): number | undefined {
  if (value === undefined) return undefined;
  const { min, max = Number.MAX_SAFE_INTEGER } = range;
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const bounds = range.max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`${option} must be a whole number ${bounds} (got "${String(value)}")`, usage);
  }
  return n;
}
