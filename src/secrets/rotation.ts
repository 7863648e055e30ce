import type { Knex } from 'knex';
import { writeAudit, type Actor } from '../db/repositories/audit.js';
import { sealedKeyId, sealedPrefix, type SecretBox } from './secret-box.js';

/**
 * Every column that holds values sealed by SecretBox. A new sealed column must be added here, or a
 * key rotation would leave its values behind under the old key. Only values in the sealed form
 * (`v1:<key id>:…`) count: a column may also hold what replaced a secret once it was no longer
 * needed (a delivered notification's payload is erased to a marker).
 */
export const SEALED_COLUMNS: readonly { table: string; id: string; column: string }[] = [
  { table: 'machine_bmcs', id: 'machine_id', column: 'password_enc' },
  { table: 'orders', id: 'id', column: 'credentials_enc' },
  { table: 'notifications', id: 'id', column: 'payload' },
];

const SEALED_FORM = `${sealedPrefix()}%`;

export interface SealedColumnStatus {
  table: string;
  column: string;
  /** Sealed values by the id of the key that sealed them. */
  byKey: Record<string, number>;
}

export interface SecretsStatus {
  currentKeyId: string;
  /** Keys this process can open values with (current first). */
  configuredKeyIds: string[];
  columns: SealedColumnStatus[];
  /** Sealed values in every column. */
  stored: number;
  /** Values sealed by a key this process does not have: they cannot be opened until it is configured. */
  unopenable: number;
  /** The keys those were sealed with. */
  missingKeyIds: string[];
}

export async function secretsStatus(knex: Knex, box: SecretBox): Promise<SecretsStatus> {
  const columns: SealedColumnStatus[] = [];
  let stored = 0;
  let unopenable = 0;
  const missing = new Set<string>();
  for (const { table, column } of SEALED_COLUMNS) {
    // The key id is the second field of the stored value; counting in SQL keeps this one query per column.
    const prefix = knex.raw(`substr(??, 1, 12)`, [column]);
    const rows = (await knex(table).where(column, 'like', SEALED_FORM).select({ head: prefix }).count({ n: '*' }).groupByRaw('1')) as { head: string; n: number | string }[];
    const byKey: Record<string, number> = {};
    for (const r of rows) {
      const id = sealedKeyId(String(r.head)) ?? '?';
      byKey[id] = (byKey[id] ?? 0) + Number(r.n);
    }
    for (const [id, n] of Object.entries(byKey)) {
      stored += n;
      if (box.keyIds.includes(id)) continue;
      unopenable += n;
      missing.add(id);
    }
    columns.push({ table, column, byKey });
  }
  return { currentKeyId: box.keyId, configuredKeyIds: box.keyIds, columns, stored, unopenable, missingKeyIds: [...missing] };
}

export interface ResealResult {
  resealed: number;
  /** Values whose key is not configured: left as they are. */
  failed: { table: string; id: string; reason: string }[];
  /** Rows changed by someone else between read and write: they were sealed anew by that writer. */
  raced: number;
}

/**
 * Re-seals every stored value that an older key sealed, under the current key, in batches. Each row is
 * written only if it still holds the value that was read (compare-and-set), so a concurrent writer
 * (a BMC password changed through the API meanwhile) is never overwritten. Safe to run again: values
 * already under the current key are not touched.
 */
export async function resealAll(knex: Knex, box: SecretBox, actor: Actor, opts: { batchSize?: number } = {}): Promise<ResealResult> {
  const batchSize = opts.batchSize ?? 500;
  const result: ResealResult = { resealed: 0, failed: [], raced: 0 };
  const current = `${sealedPrefix(box.keyId)}%`;
  for (const { table, id, column } of SEALED_COLUMNS) {
    let after: string | null = null;
    for (;;) {
      const query = knex(table).where(column, 'like', SEALED_FORM).whereNot(column, 'like', current).orderBy(id).limit(batchSize).select({ id, value: column });
      if (after !== null) query.where(id, '>', after);
      const rows = (await query) as { id: string; value: string }[];
      if (rows.length === 0) break;
      after = String(rows[rows.length - 1]!.id);
      await knex.transaction(async (trx) => {
        for (const row of rows) {
          let plaintext: string;
          try {
            plaintext = box.open(row.value);
          } catch (err) {
            result.failed.push({ table, id: String(row.id), reason: err instanceof Error ? err.message : String(err) });
            continue;
          }
          const n = await trx(table).where({ [id]: row.id, [column]: row.value }).update({ [column]: box.seal(plaintext) });
          if (n === 1) result.resealed++;
          else result.raced++;
        }
      });
    }
  }
  await writeAudit(knex, actor, {
    action: 'secrets.reseal',
    targetType: 'secret_key',
    targetId: box.keyId,
    after: { resealed: result.resealed, failed: result.failed.length, raced: result.raced },
  });
  return result;
}
