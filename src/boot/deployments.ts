import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import { AuthenticationError, ConflictError, InputError, NotAllowedError, NotFoundError } from '../errors.js';
import { isUniqueViolation, json, toIso, updateThenInsert } from '../db/sql.js';
import { isSha512CryptHash, sha512crypt } from './crypt.js';

/**
 * Deployments: what a machine should do the next time it network-boots, and the one-time
 * callback token its installer reports back with. The provisioning workflow creates a deployment
 * and waits for its status; the boot HTTP service reads the current intent and records callbacks.
 *
 * Tokens: only the SHA-256 of a token is stored. Each time the boot service hands a machine an
 * install or wipe script it issues a fresh token (the script and answer files carry it), which
 * replaces the previous one, so a token is bound to one deployment and, in practice, one boot.
 * Each callback event is accepted once per deployment (a unique key, not a check-then-insert).
 */

export const DEPLOYMENT_KINDS = ['install', 'wipe', 'localboot'] as const;
export type DeploymentKind = (typeof DEPLOYMENT_KINDS)[number];
export const DEPLOYMENT_STATUSES = ['pending', 'booting', 'installing', 'installed', 'failed', 'done', 'cancelled'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];
export const CALLBACK_EVENTS = ['started', 'installed', 'failed', 'first_boot'] as const;
export type CallbackEvent = (typeof CALLBACK_EVENTS)[number];

/** Statuses in which a deployment still drives the machine's boot. */
export const ACTIVE_STATUSES: readonly DeploymentStatus[] = ['pending', 'booting', 'installing', 'installed'];
const TERMINAL: ReadonlySet<DeploymentStatus> = new Set(['failed', 'done', 'cancelled']);

export const DEFAULT_TOKEN_TTL_SECONDS = 6 * 3600;
const MAX_DETAIL_CHARS = 8192;

const hostname = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be one DNS label: lower-case letters, digits and "-", at most 63 characters');
const sshKey = z
  .string()
  .max(16384)
  .regex(
    /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\x00-\x1f\x7f]*)?$/,
    'must be one OpenSSH public key line ("ssh-ed25519 AAAA... comment")',
  );

/** What a caller asks for; validated by `createDeployment` (and reusable by the API). */
export const DeploymentSpecSchema = z
  .object({
    kind: z.enum(DEPLOYMENT_KINDS),
    /** OS image name from the boot catalog; required for install and wipe. */
    os_image: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/).optional(),
    hostname: hostname.optional(),
    ssh_keys: z.array(sshKey).max(64).default([]),
    /** A `$6$` SHA-512 crypt string. */
    root_password_hash: z.string().refine(isSha512CryptHash, 'must be a SHA-512 crypt string ($6$...)').optional(),
    /** Plaintext, hashed here with sha512crypt and then forgotten; never stored or logged. */
    root_password: z.string().min(8).max(256).optional(),
    /** Overrides what the DHCP reservation says (e.g. a customer's DNS servers). */
    network: z
      .object({
        dns: z.array(z.ipv4()).max(8).optional(),
        domain: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/).optional(),
      })
      .strict()
      .default({}),
    token_ttl_seconds: z.number().int().min(300).max(7 * 86400).default(DEFAULT_TOKEN_TTL_SECONDS),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.kind !== 'localboot' && !s.os_image) ctx.addIssue({ code: 'custom', path: ['os_image'], message: `is required for ${s.kind}` });
    if (s.kind === 'install' && !s.hostname) ctx.addIssue({ code: 'custom', path: ['hostname'], message: 'is required for install' });
    if (s.root_password !== undefined && s.root_password_hash !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['root_password'], message: 'give root_password or root_password_hash, not both' });
    }
  });
export type DeploymentSpec = z.input<typeof DeploymentSpecSchema>;

/** The part of a deployment answer files are rendered from. */
export interface DeploymentConfig {
  sshKeys: string[];
  rootPasswordHash: string | null;
  network: { dns?: string[]; domain?: string };
}

export interface Deployment {
  id: string;
  machineId: string;
  kind: DeploymentKind;
  status: DeploymentStatus;
  osImage: string | null;
  hostname: string | null;
  /** The NIC the machine last network-booted this deployment from (set when a script is served). */
  bootMac: string | null;
  config: DeploymentConfig;
  tokenExpiresAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface CallbackRecord {
  deploymentId: string;
  event: CallbackEvent;
  at: string;
  detail: unknown;
}

/** What the machine should do on its next network boot. */
export type BootIntent =
  | { kind: 'install' | 'wipe'; deployment: Deployment }
  | { kind: 'localboot'; deployment: Deployment | null; reason: string }
  | { kind: 'none'; deployment: null; reason: string };

/** The callback token was valid once but is past its expiry. */
export class CallbackTokenExpiredError extends AuthenticationError {
  override readonly code: string = 'token_expired';
}

/**
 * Picks the intent from a machine's deployments (any order). Pure, so the rule is tested alone:
 * the newest active deployment wins; an installed system boots from disk; nothing active → none.
 */
export function selectIntent(deployments: readonly Deployment[]): BootIntent {
  const active = deployments
    .filter((d) => ACTIVE_STATUSES.includes(d.status))
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  const d = active[0];
  if (!d) return { kind: 'none', deployment: null, reason: 'no deployment pending' };
  if (d.kind === 'localboot') return { kind: 'localboot', deployment: d, reason: 'local boot requested' };
  if (d.status === 'installed') {
    return { kind: 'localboot', deployment: d, reason: d.kind === 'wipe' ? 'wipe finished' : 'installation finished; booting the installed system' };
  }
  return { kind: d.kind, deployment: d };
}

const RANK: Record<DeploymentStatus, number> = { pending: 0, booting: 1, installing: 2, installed: 3, done: 4, failed: 5, cancelled: 5 };

/**
 * The status after a callback event. Pure. Status never moves backwards (a late `started` after
 * `installed` is recorded but changes nothing); a wipe's `installed` means the disks are clean,
 * which finishes it.
 */
export function statusAfter(current: DeploymentStatus, kind: DeploymentKind, event: CallbackEvent): DeploymentStatus {
  if (TERMINAL.has(current)) return current;
  const target: DeploymentStatus =
    event === 'failed' ? 'failed' : event === 'started' ? 'installing' : event === 'first_boot' ? 'done' : kind === 'wipe' ? 'done' : 'installed';
  return RANK[target] > RANK[current] ? target : current;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** 32 random bytes, base64url: URL-, shell-, YAML- and iPXE-safe without quoting. */
function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Shape check before any database work: tokens are exactly what newToken makes. */
export function isWellFormedToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}

interface DeploymentRow {
  id: string;
  machine_id: string;
  kind: string;
  status: string;
  os_image: string | null;
  hostname: string | null;
  boot_mac: string | null;
  config: unknown;
  callback_token_hash: string | null;
  callback_token_expires_at: unknown;
  last_error: string | null;
  created_at: unknown;
  updated_at: unknown;
}

function fromRow(r: DeploymentRow): Deployment {
  const c = json.read<{ ssh_keys?: string[]; root_password_hash?: string | null; network?: DeploymentConfig['network'] }>(r.config, {});
  return {
    id: r.id,
    machineId: r.machine_id,
    kind: r.kind as DeploymentKind,
    status: r.status as DeploymentStatus,
    osImage: r.os_image,
    hostname: r.hostname,
    bootMac: r.boot_mac ?? null,
    config: { sshKeys: c.ssh_keys ?? [], rootPasswordHash: c.root_password_hash ?? null, network: c.network ?? {} },
    tokenExpiresAt: toIso(r.callback_token_expires_at),
    lastError: r.last_error,
    createdAt: toIso(r.created_at)!,
    updatedAt: toIso(r.updated_at)!,
  };
}

export interface DeploymentServiceOptions {
  clock?: Clock;
  /** OS image names the boot catalog knows; when given, createDeployment refuses others. */
  knownImages?: () => Iterable<string>;
}

export interface RecordCallbackOptions {
  /** Machine the request's source address belongs to (from BootLookup.byIp), when known. */
  sourceMachineId?: string | null;
  remoteAddress?: string | null;
}

/** Deployments and their callbacks, on knex (SQLite or PostgreSQL). */
export class DeploymentService {
  private readonly clock: Clock;

  constructor(
    private readonly knex: Knex,
    private readonly options: DeploymentServiceOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Creates a pending deployment. Returns the callback token once; only its hash is stored.
   * ConflictError when the machine already has an active deployment (cancel it first).
   */
  async createDeployment(machineId: string, spec: DeploymentSpec): Promise<{ deployment: Deployment; callbackToken: string }> {
    const parsed = DeploymentSpecSchema.safeParse(spec);
    if (!parsed.success) {
      const details = parsed.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message }));
      throw new InputError(`invalid deployment: ${details.map((d) => `${d.field} ${d.message}`).join('; ')}`, { details });
    }
    const s = parsed.data;
    if (s.os_image && this.options.knownImages) {
      const known = [...this.options.knownImages()];
      if (!known.includes(s.os_image)) {
        throw new InputError(`unknown OS image "${s.os_image}"`, { details: [{ field: 'os_image', message: `known images: ${known.join(', ') || 'none'}` }] });
      }
    }
    const rootPasswordHash = s.root_password !== undefined ? sha512crypt(s.root_password) : (s.root_password_hash ?? null);
    const token = newToken();
    const now = this.clock.now();
    const row = {
      id: randomUUID(),
      machine_id: machineId,
      kind: s.kind,
      status: 'pending',
      os_image: s.os_image ?? null,
      hostname: s.hostname ?? null,
      boot_mac: null,
      config: json.write({ ssh_keys: s.ssh_keys, root_password_hash: rootPasswordHash, network: s.network }),
      callback_token_hash: hashToken(token),
      callback_token_expires_at: new Date(now.getTime() + s.token_ttl_seconds * 1000).toISOString(),
      last_error: null,
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
    };
    await this.knex.transaction(async (trx) => {
      const machine = await trx('machines').where({ id: machineId }).first('id');
      if (!machine) throw new NotFoundError(`machine ${machineId} does not exist`);
      const active = await trx('deployments').where({ machine_id: machineId }).whereIn('status', ACTIVE_STATUSES).first('id', 'kind', 'status');
      if (active) {
        throw new ConflictError(`machine ${machineId} already has an active ${active.kind} deployment ${active.id} (${active.status}); cancel it first`, {
          details: { reason: 'active_deployment', deployment_id: active.id },
        });
      }
      try {
        await trx('deployments').insert(row);
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`machine ${machineId} already has an active deployment`, { details: { reason: 'active_deployment' }, cause: err });
        throw err;
      }
    });
    return { deployment: fromRow(row as DeploymentRow), callbackToken: token };
  }

  async get(id: string): Promise<Deployment> {
    const row = (await this.knex('deployments').where({ id }).first()) as DeploymentRow | undefined;
    if (!row) throw new NotFoundError(`deployment ${id} does not exist`);
    return fromRow(row);
  }

  async listForMachine(machineId: string): Promise<Deployment[]> {
    const rows = (await this.knex('deployments').where({ machine_id: machineId }).orderBy('created_at', 'desc')) as DeploymentRow[];
    return rows.map(fromRow);
  }

  async currentIntent(machineId: string): Promise<BootIntent> {
    const rows = (await this.knex('deployments').where({ machine_id: machineId }).whereIn('status', ACTIVE_STATUSES)) as DeploymentRow[];
    return selectIntent(rows.map(fromRow));
  }

  /**
   * Issues a fresh callback token for a boot of this deployment (replacing the previous one) and
   * moves a pending deployment to `booting`. Used when serving an install or wipe script.
   */
  async issueBootToken(deploymentId: string, bootMac: string | null, ttlSeconds = DEFAULT_TOKEN_TTL_SECONDS): Promise<{ deployment: Deployment; token: string }> {
    const token = newToken();
    const now = this.clock.now();
    const [row] = (await this.knex('deployments')
      .where({ id: deploymentId })
      .whereIn('status', ['pending', 'booting', 'installing'])
      .update({
        callback_token_hash: hashToken(token),
        callback_token_expires_at: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
        status: this.knex.raw(`case when status = 'pending' then 'booting' else status end`),
        ...(bootMac ? { boot_mac: bootMac } : {}),
        updated_at: now.toISOString(),
      })
      .returning('*')) as DeploymentRow[];
    if (!row) {
      const d = await this.get(deploymentId);
      throw new ConflictError(`deployment ${deploymentId} is ${d.status}; no boot token can be issued`);
    }
    return { deployment: fromRow(row), token };
  }

  /** Marks a localboot deployment done once its script was served. */
  async completeLocalboot(deploymentId: string): Promise<void> {
    await this.knex('deployments')
      .where({ id: deploymentId, kind: 'localboot' })
      .whereIn('status', ['pending', 'booting'])
      .update({ status: 'done', callback_token_hash: null, updated_at: this.clock.now().toISOString() });
  }

  /**
   * The deployment a token belongs to, if the token is current and unexpired and the deployment
   * is still active. NotFoundError for unknown tokens (and ended deployments, whose tokens are
   * cleared), CallbackTokenExpiredError (401) past expiry, NotAllowedError (403) when the request
   * comes from another machine's address.
   */
  async resolveToken(token: string, sourceMachineId?: string | null): Promise<Deployment> {
    if (!isWellFormedToken(token)) throw new NotFoundError('unknown callback token');
    const row = (await this.knex('deployments').where({ callback_token_hash: hashToken(token) }).first()) as DeploymentRow | undefined;
    if (!row) throw new NotFoundError('unknown callback token');
    const d = fromRow(row);
    if (d.tokenExpiresAt === null || new Date(d.tokenExpiresAt).getTime() <= this.clock.now().getTime()) {
      throw new CallbackTokenExpiredError(`callback token of deployment ${d.id} expired at ${d.tokenExpiresAt ?? 'an unknown time'}`);
    }
    if (sourceMachineId && sourceMachineId !== d.machineId) {
      throw new NotAllowedError(`callback token of deployment ${d.id} belongs to another machine`);
    }
    if (TERMINAL.has(d.status)) throw new ConflictError(`deployment ${d.id} is ${d.status}`);
    return d;
  }

  /**
   * Records an installer callback: each event once per deployment (ConflictError on a replay),
   * and moves the deployment's status. Returns the updated deployment.
   */
  async recordCallback(token: string, event: CallbackEvent, detail: unknown, opts: RecordCallbackOptions = {}): Promise<{ deployment: Deployment; previousStatus: DeploymentStatus }> {
    if (!CALLBACK_EVENTS.includes(event)) throw new InputError(`unknown callback event "${String(event)}"`, { details: [{ field: 'event', message: `one of ${CALLBACK_EVENTS.join(', ')}` }] });
    const detailText = boundedDetail(detail);
    // The status update is conditional on the status read; if another callback moved it in
    // between, read again and recompute (installers do not retry on a 409).
    for (let attempt = 0; ; attempt++) {
      const d = await this.resolveToken(token, opts.sourceMachineId);
      const now = this.clock.now().toISOString();
      const next = statusAfter(d.status, d.kind, event);
      try {
        const patch: Record<string, unknown> = { status: next, updated_at: now };
        if (event === 'failed') patch.last_error = typeof detail === 'string' ? detail.slice(0, MAX_DETAIL_CHARS) : (detailText ?? 'installer reported failure');
        // An ended deployment takes no more callbacks and serves no more answer files.
        if (TERMINAL.has(next)) patch.callback_token_hash = null;
        // The status moves and the event is recorded together (a replayed event fails both).
        const moved = await updateThenInsert(this.knex, this.knex('deployments').where({ id: d.id, status: d.status }).update(patch), 'deployment_callbacks', {
          deployment_id: d.id, event, at: now, detail: detailText, remote_address: opts.remoteAddress ?? null,
        });
        if (!moved) throw new StatusMoved();
        return { deployment: { ...d, status: next, updatedAt: now }, previousStatus: d.status };
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`event "${event}" was already recorded for deployment ${d.id}`, { details: { reason: 'replayed_event', event }, cause: err });
        if (!(err instanceof StatusMoved) || attempt >= 4) throw err instanceof StatusMoved ? new ConflictError(`deployment ${d.id} kept changing while recording "${event}"`) : err;
      }
    }
  }

  async callbacks(deploymentId: string): Promise<CallbackRecord[]> {
    const rows = await this.knex('deployment_callbacks').where({ deployment_id: deploymentId }).orderBy('id');
    return rows.map((r: { deployment_id: string; event: CallbackEvent; at: unknown; detail: unknown }) => ({
      deploymentId: r.deployment_id,
      event: r.event,
      at: toIso(r.at)!,
      detail: json.read(r.detail, null),
    }));
  }

  /**
   * Ends a deployment from the workflow's side (first boot confirmed, a timeout, an operator's
   * cancel): sets the terminal status, clears the token and records `reason`. Idempotent for the
   * same outcome, so a step re-run after a crash succeeds; ConflictError when the deployment
   * already ended differently. `db` lets the caller do this inside its own transaction.
   */
  async finish(deploymentId: string, outcome: 'done' | 'failed' | 'cancelled', reason?: string, db: Knex | Knex.Transaction = this.knex): Promise<Deployment> {
    const patch: Record<string, unknown> = { status: outcome, callback_token_hash: null, updated_at: this.clock.now().toISOString() };
    if (reason !== undefined) patch.last_error = reason.slice(0, 1000);
    const n = await db('deployments').where({ id: deploymentId }).whereIn('status', ACTIVE_STATUSES).update(patch);
    const row = (await db('deployments').where({ id: deploymentId }).first()) as DeploymentRow | undefined;
    if (!row) throw new NotFoundError(`deployment ${deploymentId} does not exist`);
    const d = fromRow(row);
    if (n !== 1 && d.status !== outcome) throw new ConflictError(`deployment ${deploymentId} already ended as ${d.status}; cannot mark it ${outcome}`);
    return d;
  }

  /** Cancels an active deployment; the machine gets "nothing to do" on its next boot. */
  async cancel(deploymentId: string, reason: string): Promise<Deployment> {
    const n = await this.knex('deployments')
      .where({ id: deploymentId })
      .whereIn('status', ACTIVE_STATUSES)
      .update({ status: 'cancelled', callback_token_hash: null, last_error: reason.slice(0, 1000), updated_at: this.clock.now().toISOString() });
    const d = await this.get(deploymentId);
    if (n !== 1) throw new ConflictError(`deployment ${deploymentId} is ${d.status} and cannot be cancelled`);
    return d;
  }
}

/** Internal: the deployment's status changed between read and update. */
class StatusMoved extends Error {}

function boundedDetail(detail: unknown): string | null {
  if (detail === undefined || detail === null || detail === '') return null;
  const text = json.write(detail)!;
  if (text.length > MAX_DETAIL_CHARS) return json.write({ truncated: true, head: text.slice(0, MAX_DETAIL_CHARS) });
  return text;
}
