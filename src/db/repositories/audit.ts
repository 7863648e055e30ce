import type { Knex } from 'knex';
import { json, toIso } from '../sql.js';

/** Who did something: a token name (API), `cli:<user>` or `system:<role>`. */
export interface Actor {
  name: string;
  requestId?: string | null;
}

export interface AuditEntry {
  action: string;
  targetType: string;
  targetId: string | null;
  before?: unknown;
  after?: unknown;
  reason?: string | null;
}

export interface AuditRecord extends Required<Omit<AuditEntry, 'before' | 'after'>> {
  id: number;
  at: string;
  actor: string;
  before: unknown;
  after: unknown;
  requestId: string | null;
}

const SECRET_KEYS = /pass(word)?|secret|token|_enc$|credential/i;

/** Removes secret-looking fields recursively so an audit row never carries a password. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = SECRET_KEYS.test(k) ? (v === null || v === undefined ? v : '[redacted]') : redact(v);
    }
    return out;
  }
  return value;
}

/** Writes one audit row; call inside the same transaction as the mutation it records. */
export async function writeAudit(db: Knex | Knex.Transaction, actor: Actor, entry: AuditEntry, at: string = new Date().toISOString()): Promise<void> {
  await db('audit_log').insert({
    at,
    actor: actor.name,
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId,
    before: json.write(entry.before === undefined ? null : redact(entry.before)),
    after: json.write(entry.after === undefined ? null : redact(entry.after)),
    reason: entry.reason ?? null,
    request_id: actor.requestId ?? null,
  });
}

export async function listAudit(
  db: Knex,
  filter: { targetType?: string; targetId?: string; action?: string; limit?: number; afterId?: number } = {},
): Promise<AuditRecord[]> {
  const q = db('audit_log').orderBy('id', 'asc').limit(filter.limit ?? 100);
  if (filter.targetType) q.where('target_type', filter.targetType);
  if (filter.targetId) q.where('target_id', filter.targetId);
  if (filter.action) q.where('action', filter.action);
  if (filter.afterId) q.where('id', '>', filter.afterId);
  const rows = await q;
  return rows.map((r: Record<string, unknown>) => ({
    id: Number(r.id),
    at: toIso(r.at)!,
    actor: String(r.actor),
    action: String(r.action),
    targetType: String(r.target_type),
    targetId: (r.target_id as string | null) ?? null,
    before: json.read(r.before, null),
    after: json.read(r.after, null),
    reason: (r.reason as string | null) ?? null,
    requestId: (r.request_id as string | null) ?? null,
  }));
}
