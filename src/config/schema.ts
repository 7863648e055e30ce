import { z } from 'zod';
import { DEFAULT_HEALTH_CONCURRENCY, DEFAULT_WORKER_CONCURRENCY } from './defaults.js';
import type { DatabaseTarget } from '../db/connect.js';

/** Log levels pino understands, most verbose first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The parts of `anvil serve` that can run in one process or be split across several. */
export const SERVICE_ROLES = ['api', 'worker', 'boot', 'sweeper'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

export const DEFAULT_LISTEN = '127.0.0.1:8080';
export const DEFAULT_DATA_DIR = './data';
export { DEFAULT_HEALTH_CONCURRENCY, DEFAULT_WORKER_CONCURRENCY } from './defaults.js';

/**
 * The shape of `anvil.yaml`. Keys are snake_case like the API. Sections for capabilities that
 * validate their own settings (`boot`) are passed through untyped here and checked by that module.
 */
export const FileConfigSchema = z
  .object({
    database_url: z.string().min(1).optional(),
    data_dir: z.string().min(1).optional(),
    // `listen: 8080` reads as a number in YAML; taken as text so the error says what a listen address is.
    listen: z.union([z.string().min(1), z.number().transform(String)]).optional(),
    secret_key: z.string().min(1).optional(),
    secret_keys_previous: z.array(z.string().min(1)).optional(),
    log_level: z.enum(LOG_LEVELS).optional(),
    roles: z.union([z.string(), z.array(z.string())]).optional(),
    site: z.string().min(1).optional(),
    boot: z.record(z.string(), z.unknown()).optional(),
    notifications: z
      .object({
        webhook: z
          .object({
            url: z.url({ protocol: /^https?$/ }),
            secret: z.string().min(16, 'must be at least 16 characters'),
          })
          .strict()
          .optional(),
        smtp: z
          .object({
            host: z.string().min(1),
            port: z.number().int().min(1).max(65535).default(587),
            from: z.string().min(3),
            username: z.string().optional(),
            password: z.string().optional(),
            starttls: z.boolean().default(true),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    health: z
      .object({
        interval_minutes: z.number().min(1).max(24 * 60).default(15),
        concurrency: z.number().int().min(1).max(1024).default(DEFAULT_HEALTH_CONCURRENCY),
        machine_budget_seconds: z.number().min(1).max(600).default(30),
        retention_days: z.number().int().min(1).max(3650).default(30),
        auto_resolve_after: z.number().int().min(1).max(100).default(2),
      })
      .strict()
      .optional(),
    worker: z
      .object({
        /** Workflows one worker process drives at once (BMC calls and database work in flight). */
        concurrency: z.number().int().min(1).max(1024).default(DEFAULT_WORKER_CONCURRENCY),
      })
      .strict()
      .optional(),
    metrics: z
      .object({
        // Optional: a token alone protects the API's /metrics without a listener of its own.
        listen: z.union([z.string().min(1), z.number().transform(String)]).optional(),
        token: z.string().min(16, 'must be at least 16 characters').optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type FileConfig = z.infer<typeof FileConfigSchema>;

export interface ListenAddress {
  host: string;
  port: number;
}

/** Webhook notification target; `secret` signs each delivery (HMAC). */
export interface WebhookConfig {
  url: string;
  secret: string;
}

export interface SmtpConfig {
  host: string;
  port: number;
  from: string;
  username?: string;
  password?: string;
  starttls: boolean;
}

/** The validated configuration every command receives. */
export interface AnvilConfig {
  database: {
    /** The value as given (may hold a password: never log it, log `target.dialect` instead). */
    url: string;
    target: DatabaseTarget;
  };
  /** Where the generated secret key (and the default SQLite file) live. */
  dataDir: string;
  listen: ListenAddress;
  /** Base64 32-byte key from ANVIL_SECRET_KEY / `secret_key`; undefined → key file in dataDir. */
  secretKey: string | undefined;
  /**
   * Keys from before a rotation (ANVIL_SECRET_KEYS_PREVIOUS, comma-separated, or `secret_keys_previous`):
   * values they sealed still open; nothing new is sealed with them.
   */
  previousSecretKeys: string[];
  logLevel: LogLevel;
  roles: ServiceRole[];
  /** Restricts worker/boot/sweeper roles to one site; null = all sites. */
  site: string | null;
  /** Raw `boot:` section; the boot module validates it. */
  boot: Record<string, unknown> | undefined;
  notifications: { webhook?: WebhookConfig; smtp?: SmtpConfig } | undefined;
  /** `listen`: the separate metrics listener of this process, if any (ANVIL_METRICS_LISTEN wins over the file). */
  metrics: { listen: ListenAddress | null; token?: string } | undefined;
  /** Health sweeps (`health:`); defaults apply when absent. */
  health: { intervalMinutes: number; concurrency: number; machineBudgetMs: number; retentionDays: number; autoResolveAfter: number };
  /** The worker role (`worker:`); defaults apply when absent. */
  worker: { concurrency: number };
  /** The config file that was read, if any. */
  configFile: string | null;
}
