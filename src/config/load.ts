import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { InputError } from '../errors.js';
import { parseDatabaseUrl } from '../db/connect.js';
import { parseBootConfig } from '../boot/service.js';
import {
  DEFAULT_DATA_DIR,
  DEFAULT_HEALTH_CONCURRENCY,
  DEFAULT_WORKER_CONCURRENCY,
  DEFAULT_LISTEN,
  FileConfigSchema,
  LOG_LEVELS,
  SERVICE_ROLES,
  type AnvilConfig,
  type FileConfig,
  type ListenAddress,
  type LogLevel,
  type ServiceRole,
} from './schema.js';

/**
 * Invalid configuration. The message is one line that names the setting where it came from:
 * `--listen: …`, `ANVIL_LISTEN: …` or `anvil.yaml:7: listen: …`. The CLI prints it and exits 2.
 */
export class ConfigError extends InputError {
  override readonly code: string = 'invalid_config';
}

/** Settings given as command-line flags; they win over the environment and the file. */
export interface ConfigFlags {
  config?: string;
  databaseUrl?: string;
  dataDir?: string;
  listen?: string;
  logLevel?: string;
  roles?: string;
  site?: string;
}

export interface LoadConfigOptions {
  flags?: ConfigFlags;
  env?: NodeJS.ProcessEnv;
  /** Reads the config file; injectable so unit tests need no files. */
  readFile?: (path: string) => string;
}

/** Where a value came from, used to prefix error messages. */
type Source = { label: string };

interface Candidate<T> {
  value: T;
  source: Source;
}

/**
 * Builds the configuration from flags, environment and an optional YAML file (`--config FILE`
 * or ANVIL_CONFIG; `./anvil.yaml` is not read implicitly so a stray file never changes behaviour).
 * Precedence: flags > environment > file > defaults.
 * @throws ConfigError naming the first bad setting.
 */
export function loadConfig(options: LoadConfigOptions = {}): AnvilConfig {
  const flags = options.flags ?? {};
  const env = options.env ?? process.env;
  const readFile = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));

  const configPath = flags.config ?? nonEmpty(env.ANVIL_CONFIG);
  const file = configPath ? readConfigFile(configPath, flags.config ? '--config' : 'ANVIL_CONFIG', readFile) : null;

  const pick = (flag: string | undefined, flagName: string, envName: string, key: keyof FileConfig): Candidate<unknown> | undefined => {
    if (flag !== undefined) return { value: flag, source: { label: flagName } };
    const fromEnv = nonEmpty(env[envName]);
    if (fromEnv !== undefined) return { value: fromEnv, source: { label: envName } };
    if (file && file.values[key] !== undefined) return { value: file.values[key], source: { label: file.where([key]) } };
    return undefined;
  };

  const dbCandidate = pick(flags.databaseUrl, '--database-url', 'DATABASE_URL', 'database_url');
  const dbUrl = dbCandidate ? String(dbCandidate.value) : '';
  let target;
  try {
    target = parseDatabaseUrl(dbUrl);
  } catch (err) {
    // parseDatabaseUrl names DATABASE_URL; re-label with where the value actually came from.
    const message = (err as Error).message.replace(/^DATABASE_URL: /, '');
    throw new ConfigError(`${dbCandidate?.source.label ?? 'DATABASE_URL'}: ${message}`);
  }

  const dataDirCandidate = pick(flags.dataDir, '--data-dir', 'ANVIL_DATA_DIR', 'data_dir');
  const dataDir = dataDirCandidate
    ? String(dataDirCandidate.value)
    : target.dialect === 'sqlite' && target.location !== ':memory:'
      ? dirname(target.location)
      : DEFAULT_DATA_DIR;

  const listenCandidate = pick(flags.listen, '--listen', 'ANVIL_LISTEN', 'listen');
  const listen = parseListen(listenCandidate ? String(listenCandidate.value) : DEFAULT_LISTEN, listenCandidate?.source.label ?? 'listen');

  const keyCandidate = nonEmpty(env.ANVIL_SECRET_KEY) !== undefined
    ? { value: env.ANVIL_SECRET_KEY!, source: { label: 'ANVIL_SECRET_KEY' } }
    : file?.values.secret_key !== undefined
      ? { value: file.values.secret_key, source: { label: file.where(['secret_key']) } }
      : undefined;
  if (keyCandidate) checkSecretKey(String(keyCandidate.value), keyCandidate.source.label);
  const previousSecretKeys = nonEmpty(env.ANVIL_SECRET_KEYS_PREVIOUS) !== undefined
    ? env.ANVIL_SECRET_KEYS_PREVIOUS!.split(/[\s,]+/).filter((k) => k !== '').map((k, i) => (checkSecretKey(k, `ANVIL_SECRET_KEYS_PREVIOUS[${i}]`), k))
    : (file?.values.secret_keys_previous ?? []).map((k, i) => (checkSecretKey(k, file!.where(['secret_keys_previous', i])), k));

  const levelCandidate = pick(flags.logLevel, '--log-level', 'ANVIL_LOG_LEVEL', 'log_level');
  const logLevel = parseLogLevel(levelCandidate ? String(levelCandidate.value) : 'info', levelCandidate?.source.label ?? 'log_level');

  const rolesCandidate = pick(flags.roles, '--roles', 'ANVIL_ROLES', 'roles');
  const roles = rolesCandidate ? parseRoles(rolesCandidate.value, rolesCandidate.source.label) : [...SERVICE_ROLES];

  const siteCandidate = pick(flags.site, '--site', 'ANVIL_SITE', 'site');
  const site = siteCandidate ? parseSite(String(siteCandidate.value), siteCandidate.source.label) : null;

  // Processes on one host sharing one anvil.yaml each need their own metrics address: the
  // environment gives it per process.
  const fileMetrics = file?.values.metrics;
  const metricsListenEnv = nonEmpty(env.ANVIL_METRICS_LISTEN);
  const metricsListen =
    metricsListenEnv !== undefined
      ? parseListen(metricsListenEnv, 'ANVIL_METRICS_LISTEN')
      : fileMetrics?.listen !== undefined
        ? parseListen(fileMetrics.listen, file!.where(['metrics', 'listen']))
        : null;
  const metrics =
    fileMetrics || metricsListen
      ? { listen: metricsListen, ...(fileMetrics?.token ? { token: fileMetrics.token } : {}) }
      : undefined;

  // The boot section's shape belongs to the boot module; a bad key still stops here, with its line.
  if (file && file.values.boot !== undefined) checkBootSection(file.values.boot, file.where);

  return {
    database: { url: dbUrl || `sqlite:${target.location}`, target },
    dataDir: resolve(dataDir),
    listen,
    secretKey: keyCandidate ? String(keyCandidate.value) : undefined,
    previousSecretKeys,
    logLevel,
    roles,
    site,
    boot: file?.values.boot,
    notifications: file?.values.notifications as AnvilConfig['notifications'],
    metrics,
    health: {
      intervalMinutes: file?.values.health?.interval_minutes ?? 15,
      concurrency: file?.values.health?.concurrency ?? DEFAULT_HEALTH_CONCURRENCY,
      machineBudgetMs: (file?.values.health?.machine_budget_seconds ?? 30) * 1000,
      retentionDays: file?.values.health?.retention_days ?? 30,
      autoResolveAfter: file?.values.health?.auto_resolve_after ?? 2,
    },
    worker: { concurrency: file?.values.worker?.concurrency ?? DEFAULT_WORKER_CONCURRENCY },
    configFile: configPath ? resolve(configPath) : null,
  };
}

interface LoadedFile {
  values: FileConfig;
  /** `file:line: dotted.key` for a path in the document (the line of the value, else its parent). */
  where(path: (string | number)[]): string;
}

function readConfigFile(path: string, via: string, readFile: (p: string) => string): LoadedFile {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${via}: cannot read ${path}${code === 'ENOENT' ? ': no such file' : code ? `: ${code}` : ''}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = lineCounter.linePos(e.pos[0]).line;
    throw new ConfigError(`${path}:${line}: invalid YAML: ${firstLine(e.message)}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  const where = (p: (string | number)[]): string => `${path}:${lineOf(doc, lineCounter, p)}: ${formatPath(p)}`;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${path}:1: the file must be a mapping of settings (key: value)`);
  }
  const parsed = FileConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeIssue(parsed.error.issues[0]!, where, path, doc, lineCounter));
  return { values: parsed.data, where };
}

function describeIssue(
  issue: z.core.$ZodIssue,
  where: (p: (string | number)[]) => string,
  file: string,
  doc: Document,
  lineCounter: LineCounter,
): string {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const full = [...path, key];
    return `${file}:${lineOf(doc, lineCounter, full, true)}: ${formatPath(full)}: unknown setting`;
  }
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `${where(path)}: is required`;
  return `${where(path)}: ${issue.message}`;
}

function lineOf(doc: Document, lineCounter: LineCounter, path: (string | number)[], keyLine = false): number {
  // A missing setting is reported at the key line of its nearest existing ancestor.
  let wantKey = keyLine;
  for (let p = path; p.length > 0; p = p.slice(0, -1)) {
    const node = doc.getIn(p, true);
    if (!wantKey && isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    const parent = p.length > 1 ? doc.getIn(p.slice(0, -1), true) : doc.contents;
    const pair = (parent as { items?: { key: unknown }[] } | null)?.items?.find(
      (item) => isNode(item.key) && String((item.key as { value?: unknown }).value) === String(p[p.length - 1]),
    );
    const key = pair?.key as { range?: [number, number, number] } | undefined;
    if (key?.range) return lineCounter.linePos(key.range[0]).line;
    wantKey = true;
  }
  return 1;
}

function formatPath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Parses `HOST:PORT` (IPv6 as `[::1]:8080`). */
export function parseListen(value: string, label: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) throw new ConfigError(`${label}: expected HOST:PORT (e.g. 127.0.0.1:8080), got "${value}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(`${label}: port ${port} is out of range 0-65535`);
  return { host: m[1] ?? m[2]!, port };
}

export function parseLogLevel(value: string, label: string): LogLevel {
  const v = value.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(v)) {
    throw new ConfigError(`${label}: unknown log level "${value}" (use one of ${LOG_LEVELS.join(', ')})`);
  }
  return v as LogLevel;
}

/** Accepts `api,worker` or a YAML list; `all` means every role. Duplicates are collapsed. */
export function parseRoles(value: unknown, label: string): ServiceRole[] {
  const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
  const roles = items.map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  if (roles.length === 0) throw new ConfigError(`${label}: needs at least one role (${SERVICE_ROLES.join(', ')})`);
  if (roles.includes('all')) return [...SERVICE_ROLES];
  for (const r of roles) {
    if (!(SERVICE_ROLES as readonly string[]).includes(r)) {
      throw new ConfigError(`${label}: unknown role "${r}" (use ${SERVICE_ROLES.join(', ')} or all)`);
    }
  }
  return SERVICE_ROLES.filter((r) => roles.includes(r));
}

function parseSite(value: string, label: string): string {
  const v = value.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/.test(v)) {
    throw new ConfigError(`${label}: "${value}" is not a site code (letters, digits, - and _, up to 32)`);
  }
  return v;
}

function checkSecretKey(value: string, label: string): void {
  const trimmed = value.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new ConfigError(`${label}: not base64 (generate one with: openssl rand -base64 32)`);
  const n = Buffer.from(trimmed, 'base64').length;
  if (n !== 32) throw new ConfigError(`${label}: must decode to 32 bytes, got ${n} (generate one with: openssl rand -base64 32)`);
}

function checkBootSection(raw: unknown, where: (path: (string | number)[]) => string): void {
  try {
    parseBootConfig(raw);
  } catch (err) {
    const first = err instanceof InputError && Array.isArray(err.details) ? err.details[0] : undefined;
    if (!first?.field) throw err;
    const path = first.field.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    throw new ConfigError(`${where(path)}: ${first.message}`);
  }
}
