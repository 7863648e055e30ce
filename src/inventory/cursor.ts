import { InputError } from '../errors.js';

/**
 * Keyset pagination. A cursor is the sort key of the last item of a page, JSON-encoded and
 * base64url'd: opaque to clients, stable under concurrent inserts (no OFFSET), and the same on
 * SQLite and PostgreSQL because every sort key is a string (ISO timestamps compare lexically on
 * SQLite and as timestamptz on PostgreSQL, and ids/codes are plain strings).
 */

/** One page of results; `next_cursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export function encodeCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** Decodes a cursor made by `encodeCursor` with `width` key parts; throws InputError otherwise. */
export function decodeCursor(cursor: string, width: number): string[] {
  let parsed: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== width || !parsed.every((p) => typeof p === 'string')) throw invalid();
  return parsed as string[];
}

function invalid(): InputError {
  return new InputError('cursor: not a cursor returned by this listing', {
    details: [{ field: 'cursor', message: 'not a cursor returned by this listing' }],
  });
}

/**
 * Splits `rows` (fetched with `limit + 1`) into a page; the extra row only tells whether
 * another page exists.
 */
export function toPage<R, T>(rows: R[], limit: number, keyOf: (row: R) => string[], map: (row: R) => T): Page<T> {
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  return {
    items: pageRows.map(map),
    next_cursor: more && pageRows.length > 0 ? encodeCursor(keyOf(pageRows[pageRows.length - 1]!)) : null,
  };
}
