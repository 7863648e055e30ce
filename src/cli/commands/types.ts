import type { AnvilConfig } from '../../config/schema.js';
import type { ConfigFlags } from '../../config/load.js';
import type { CliIo } from '../io.js';

/** What the dispatcher hands a command besides its own arguments. */
export interface CommandEnv {
  io: CliIo;
  /** Loads the configuration from the environment, the shared flags and any extra flags. */
  loadConfig(flags: ConfigFlags): AnvilConfig;
}

/** Runs one command; resolves to the exit code. */
export type CommandRun = (argv: string[], flags: ConfigFlags, env: CommandEnv) => Promise<number>;
