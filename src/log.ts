import type { Knex } from 'knex';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/schema.js';

export type { Logger } from 'pino';

/**
 * Field paths pino censors wherever they appear in a log call. Secrets never reach a log line
 * even when someone logs a whole request or BMC record by mistake.
 */
export const REDACT_PATHS = [
  'password',
  'token',
  'secret',
  'authorization',
  'secret_key',
  '*.password',
  '*.token',
  '*.secret',
  '*.authorization',
  '*.secret_key',
  '*.*.password',
  '*.*.token',
  '*.*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'bmc.password',
  'password_enc',
  '*.password_enc',
];

export interface LoggerOptions {
  level?: LogLevel | 'silent';
  /** Where JSON lines go; defaults to stderr so command output on stdout stays clean. */
  destination?: DestinationStream;
  /** Bound to every line (e.g. `{ role: 'api' }`). */
  base?: Record<string, unknown>;
}

/** The JSON logger every process uses. One line per event, ISO timestamps, secrets censored. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid, ...(options.base ?? {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that writes nothing (tests, or commands run with logging off). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * knex prints its own warnings (e.g. "Acquire connection error" with a stack) straight to the
 * console; the same failure reaches the caller as an error, so they go to the debug log instead.
 * knex has no public setter after construction, hence its logger's private hooks.
 */
export function routeKnexLogs(knex: Knex, logger: Logger): void {
  const hooks = (knex.client as { logger?: Record<string, unknown> }).logger;
  if (!hooks) return;
  const toDebug = (message: unknown): void => logger.debug({ knex: String(message).split('\n')[0] }, 'knex');
  Object.assign(hooks, { _warn: toDebug, _error: toDebug, _deprecate: toDebug });
}
