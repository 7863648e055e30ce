import type { Knex } from 'knex';
import { toIso } from '../db/sql.js';
import type { ApiRole } from './roles.js';

/** One row of api_tokens as the application sees it (never the token itself). */
export interface TokenRecord {
  id: string;
  name: string;
  role: ApiRole;
  tokenHash: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

function fromRow(r: Record<string, unknown>): TokenRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    role: String(r.role) as ApiRole,
    tokenHash: String(r.token_hash),
    prefix: String(r.prefix),
    createdAt: toIso(r.created_at)!,
    lastUsedAt: toIso(r.last_used_at),
    revokedAt: toIso(r.revoked_at),
  };
}

/** Data access for api_tokens; takes a Knex or a transaction so the service can compose. */
export const tokenRepository = {
  async insert(db: Knex | Knex.Transaction, t: Omit<TokenRecord, 'lastUsedAt' | 'revokedAt'>): Promise<void> {
    await db('api_tokens').insert({
      id: t.id,
      name: t.name,
      role: t.role,
      token_hash: t.tokenHash,
      prefix: t.prefix,
      created_at: t.createdAt,
    });
  },

  async findByHash(db: Knex, tokenHash: string): Promise<TokenRecord | null> {
    const row = await db('api_tokens').where({ token_hash: tokenHash }).first();
    return row ? fromRow(row) : null;
  },

  async findByName(db: Knex | Knex.Transaction, name: string): Promise<TokenRecord | null> {
    const row = await db('api_tokens').where({ name }).first();
    return row ? fromRow(row) : null;
  },

  async list(db: Knex): Promise<TokenRecord[]> {
    const rows = await db('api_tokens').orderBy([{ column: 'created_at', order: 'asc' }, { column: 'name', order: 'asc' }]);
    return rows.map(fromRow);
  },

  /** Marks the token revoked; returns false when it was already revoked or does not exist. */
  async revoke(db: Knex | Knex.Transaction, name: string, at: string): Promise<boolean> {
    const n = await db('api_tokens').where({ name }).whereNull('revoked_at').update({ revoked_at: at });
    return Number(n) === 1;
  },

  async touch(db: Knex, id: string, at: string): Promise<void> {
    await db('api_tokens').where({ id }).update({ last_used_at: at });
  },
};
