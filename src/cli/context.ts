import { userInfo } from 'node:os';
import type { Knex } from 'knex';
import type { AnvilConfig } from '../config/schema.js';
import { connect, migrateLatest } from '../db/connect.js';
import type { Actor } from '../db/repositories/audit.js';
import { createLogger, routeKnexLogs, type Logger } from '../log.js';
import { loadSecretKey, secretBoxFor } from '../secrets/key-file.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { logDestination, processIo, type CliIo } from './io.js';

/** What a CLI command gets: the database, secrets, a logger and its output streams. */
export interface CliContext {
  config: AnvilConfig;
  knex: Knex;
  secrets: SecretBox;
  logger: Logger;
  /** Plain-text command output. */
  stdout: (s: string) => void;
  /** Operator messages (warnings, hints); log lines also go to stderr. */
  stderr: (s: string) => void;
  /** `cli:<os user>`, for audit rows. */
  actor: Actor;
  /** Closes the database connection. */
  close(): Promise<void>;
}

export interface OpenCliContextOptions {
  io?: CliIo;
  logger?: Logger;
  /** Apply pending migrations first (default true, so a fresh install works without `migrate`). */
  migrate?: boolean;
}

/** Who runs the CLI, for audit rows. Containers may have no passwd entry for the uid. */
export function cliActor(env: NodeJS.ProcessEnv = process.env): Actor {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = env.USER ?? env.LOGNAME;
  }
  return { name: `cli:${name || `uid-${process.getuid?.() ?? 'unknown'}`}` };
}

/**
 * Connects to the configured database (migrating it unless told not to) and loads the secret key
 * (generating `<dataDir>/secret.key` on first use, with a warning to back it up).
 */
export async function openCliContext(config: AnvilConfig, options: OpenCliContextOptions = {}): Promise<CliContext> {
  const io = options.io ?? processIo();
  const logger = options.logger ?? createLogger({ level: config.logLevel, destination: logDestination(io) });
  const key = loadSecretKey(config.secretKey, config.dataDir);
  if (key.source === 'generated') {
    logger.warn(
      { path: key.path },
      'generated a new secret key file; back it up or set ANVIL_SECRET_KEY (without it, stored BMC passwords cannot be decrypted)',
    );
  }
  const secrets = secretBoxFor(key.key, config.previousSecretKeys, config.dataDir);
  const knex = connect(config.database.target);
  routeKnexLogs(knex, logger);
  try {
    if (options.migrate !== false) {
      const applied = await migrateLatest(knex);
      if (applied.length > 0) logger.info({ migrations: applied }, 'applied database migrations');
    }
  } catch (err) {
    await knex.destroy();
    throw err;
  }
  return {
    config,
    knex,
    secrets,
    logger,
    stdout: io.stdout,
    stderr: io.stderr,
    actor: cliActor(io.env),
    close: () => knex.destroy(),
  };
}

/**
 * The customer notifications of what a command opens (incidents) are written to the outbox only
 * when the process knows the webhook; a command run without the serving processes' configuration
 * would open them silently, and nothing notifies them later. Says so on stderr; returns the
 * health services' notification setting.
 */
export function cliNotifications(ctx: Pick<CliContext, 'config' | 'stderr'>, what: string): { webhook: NonNullable<NonNullable<AnvilConfig['notifications']>['webhook']> } | null {
  const webhook = ctx.config.notifications?.webhook;
  if (webhook) return { webhook };
  ctx.stderr(`anvil: warning: no notifications.webhook in the configuration: customers of incidents ${what} are not notified (use the serving processes' --config or ANVIL_CONFIG)\n`);
  return null;
}
