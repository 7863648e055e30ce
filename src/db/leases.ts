import type { Knex } from 'knex';
import { LockedError } from '../errors.js';
import { dbNow, dbNowPlus, toIso } from './sql.js';

/**
 * Leases: which process is driving a row (a machine, a workflow, a site's sweep) and until when.
 * A claim is one conditional UPDATE (free or expired → ours), so it is atomic on SQLite and
 * PostgreSQL alike; a process that dies simply lets its leases expire. Times are database time,
 * so processes with skewed clocks still agree on expiry.
 *
 * The table needs `lease_owner`, `lease_purpose`, `lease_expires_at` columns and a string `id`.
 */
export interface LeaseTarget {
  table: string;
  id: string;
}

export interface LeaseHolder {
  owner: string | null;
  purpose: string | null;
  expiresAt: string | null;
}

/** The UPDATE that takes the lease when it is free, expired, or already ours. */
function claim(db: Knex, target: LeaseTarget, owner: string, purpose: string, seconds: number) {
  return db(target.table)
    .where('id', target.id)
    .andWhere((q) => q.whereNull('lease_owner').orWhere('lease_owner', owner).orWhere('lease_expires_at', '<', dbNow(db)))
    .update({ lease_owner: owner, lease_purpose: purpose, lease_expires_at: dbNowPlus(db, seconds) });
}

/** Claims the lease if it is free, expired, or already ours. Returns false when someone else holds it. */
export async function tryClaimLease(db: Knex, target: LeaseTarget, owner: string, purpose: string, seconds: number): Promise<boolean> {
  return (await claim(db, target, owner, purpose, seconds)) === 1;
}

/**
 * Claims the lease like `tryClaimLease` and returns the row as the claim left it (one statement,
 * `UPDATE … RETURNING`, on both dialects); null when someone else holds it.
 */
export async function tryClaimLeaseRow(db: Knex, target: LeaseTarget, owner: string, purpose: string, seconds: number): Promise<Record<string, unknown> | null> {
  const rows = (await claim(db, target, owner, purpose, seconds).returning('*')) as Record<string, unknown>[];
  return rows[0] ?? null;
}

/** Claims the lease or throws LockedError naming the holder and its purpose. */
export async function claimLease(db: Knex, target: LeaseTarget, owner: string, purpose: string, seconds: number): Promise<void> {
  if (await tryClaimLease(db, target, owner, purpose, seconds)) return;
  const holder = await leaseHolder(db, target);
  throw new LockedError(`${target.table} ${target.id} is locked by ${holder.owner ?? 'another process'} (${holder.purpose ?? 'unknown purpose'}) until ${holder.expiresAt ?? '?'}`, {
    details: { ...holder },
  });
}

/** Extends a lease we hold. Returns false when it was lost (expired and taken) — the caller must stop. */
export async function renewLease(db: Knex, target: LeaseTarget, owner: string, seconds: number): Promise<boolean> {
  const updated = await db(target.table)
    .where({ id: target.id, lease_owner: owner })
    .update({ lease_expires_at: dbNowPlus(db, seconds) });
  return updated === 1;
}

/** Releases only when we still hold it, so a late release never frees another process's lease. */
export async function releaseLease(db: Knex, target: LeaseTarget, owner: string): Promise<boolean> {
  const updated = await db(target.table)
    .where({ id: target.id, lease_owner: owner })
    .update({ lease_owner: null, lease_purpose: null, lease_expires_at: null });
  return updated === 1;
}

export async function leaseHolder(db: Knex, target: LeaseTarget): Promise<LeaseHolder> {
  const row = await db(target.table).where('id', target.id).first('lease_owner', 'lease_purpose', 'lease_expires_at');
  return {
    owner: row?.lease_owner ?? null,
    purpose: row?.lease_purpose ?? null,
    expiresAt: toIso(row?.lease_expires_at),
  };
}

/**
 * Runs `fn` while holding the lease, renewing it every third of its length; `signal` aborts when
 * the lease is lost so the work stops before another process takes over.
 */
export async function withLease<T>(
  db: Knex,
  target: LeaseTarget,
  owner: string,
  purpose: string,
  seconds: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  await claimLease(db, target, owner, purpose, seconds);
  const lost = new AbortController();
  const timer = setInterval(() => {
    renewLease(db, target, owner, seconds)
      .then((ok) => {
        if (!ok) lost.abort(new LockedError(`lease on ${target.table} ${target.id} was lost`));
      })
      .catch(() => undefined);
  }, Math.max(1000, (seconds * 1000) / 3));
  timer.unref();
  try {
    return await fn(lost.signal);
  } finally {
    clearInterval(timer);
    await releaseLease(db, target, owner).catch(() => undefined);
  }
}
