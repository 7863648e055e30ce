import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { systemClock, type Clock } from '../clock.js';
import { writeAudit, type Actor } from '../db/repositories/audit.js';
import { conflictOnDuplicate } from '../db/sql.js';
import { AuthenticationError, ConflictError, InputError, NotFoundError } from '../errors.js';
import { tokenRepository, type TokenRecord } from './repository.js';
import { isApiRole, type ApiRole } from './roles.js';
import { TOKEN_NAME_PATTERN, type TokenView } from './schemas.js';

/** Every Anvil token starts with this, so a leaked one is recognisable (and secret scanners can match it). */
export const TOKEN_PREFIX = 'anv_';
const PREFIX_LENGTH = TOKEN_PREFIX.length + 8;
/** last_used_at is written at most this often per token, so reads do not become writes. */
const TOUCH_INTERVAL_MS = 60_000;

/** The caller a valid token identifies. */
export interface Principal {
  tokenId: string;
  name: string;
  role: ApiRole;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function toTokenView(t: TokenRecord): TokenView {
  return { name: t.name, role: t.role, prefix: t.prefix, created_at: t.createdAt, last_used_at: t.lastUsedAt, revoked_at: t.revokedAt };
}

/**
 * API tokens: created once (the plaintext is returned only then), stored as a SHA-256 hash,
 * listed by name and prefix, revoked by name. Creation and revocation are audited.
 */
export class TokenService {
  private readonly knex: Knex;
  private readonly clock: Clock;

  constructor(deps: { knex: Knex; clock?: Clock }) {
    this.knex = deps.knex;
    this.clock = deps.clock ?? systemClock;
  }

  /** @throws InputError for a bad name or role, ConflictError when the name is taken. */
  async create(input: { name: string; role: string }, actor: Actor): Promise<{ token: string; record: TokenView }> {
    if (!TOKEN_NAME_PATTERN.test(input.name)) {
      throw new InputError(`token name "${input.name}": use letters, digits, and . _ @ - (up to 128, starting with a letter or digit)`, {
        details: [{ field: 'name', message: 'invalid token name' }],
      });
    }
    if (!isApiRole(input.role)) {
      throw new InputError(`token role "${input.role}": use admin, technician, pipeline or viewer`, {
        details: [{ field: 'role', message: 'unknown role' }],
      });
    }
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const now = this.clock.now().toISOString();
    const record: TokenRecord = {
      id: randomUUID(),
      name: input.name,
      role: input.role,
      tokenHash: hashToken(token),
      prefix: token.slice(0, PREFIX_LENGTH),
      createdAt: now,
      lastUsedAt: null,
      revokedAt: null,
    };
    await conflictOnDuplicate(
      () =>
        this.knex.transaction(async (trx) => {
          await tokenRepository.insert(trx, record);
          await writeAudit(trx, actor, { action: 'token.create', targetType: 'token', targetId: record.name, after: { name: record.name, role: record.role, prefix: record.prefix } }, now);
        }),
      `token "${input.name}" already exists`,
      { field: 'name' },
    );
    return { token, record: toTokenView(record) };
  }

  async list(): Promise<TokenView[]> {
    return (await tokenRepository.list(this.knex)).map(toTokenView);
  }

  /** @throws NotFoundError for an unknown name, ConflictError when already revoked. */
  async revoke(name: string, actor: Actor): Promise<TokenView> {
    const now = this.clock.now().toISOString();
    return this.knex.transaction(async (trx) => {
      const existing = await tokenRepository.findByName(trx, name);
      if (!existing) throw new NotFoundError(`token "${name}" not found`);
      if (!(await tokenRepository.revoke(trx, name, now))) throw new ConflictError(`token "${name}" is already revoked`);
      await writeAudit(trx, actor, { action: 'token.revoke', targetType: 'token', targetId: name, before: { role: existing.role, prefix: existing.prefix } }, now);
      return toTokenView({ ...existing, revokedAt: now });
    });
  }

  /**
   * Resolves a bearer token to its principal.
   * @throws AuthenticationError when the token is malformed, unknown or revoked (one message for
   *   all three, so a caller cannot probe which tokens exist).
   */
  async authenticate(token: string): Promise<Principal> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 256) throw new AuthenticationError('invalid or revoked token');
    const hash = hashToken(token);
    const record = await tokenRepository.findByHash(this.knex, hash);
    // The lookup is by hash, so the compare is belt and braces against a collation surprise.
    if (!record || !timingSafeEqual(Buffer.from(record.tokenHash), Buffer.from(hash)) || record.revokedAt !== null) {
      throw new AuthenticationError('invalid or revoked token');
    }
    const now = this.clock.now();
    if (!record.lastUsedAt || now.getTime() - Date.parse(record.lastUsedAt) >= TOUCH_INTERVAL_MS) {
      await tokenRepository.touch(this.knex, record.id, now.toISOString());
    }
    return { tokenId: record.id, name: record.name, role: record.role };
  }
}
