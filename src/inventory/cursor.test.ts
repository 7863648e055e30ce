import { InputError } from '../errors.js';
import { decodeCursor, encodeCursor, toPage } from './cursor.js';

describe('cursor', () => {
  it('round-trips a sort key through an opaque URL-safe string', () => {
    const key = ['2026-11-26T10:55:32.123Z', '0b6f3c2e-7d1a-4c7e-9f7a-1a2b3c4d5e6f'];
    const cursor = encodeCursor(key);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, 2)).toEqual(key);
  });

  it('round-trips non-ASCII keys', () => {
    expect(decodeCursor(encodeCursor(['Montréal']), 1)).toEqual(['Montréal']);
  });

  it.each([
    ['not base64url', '***'],
    ['not JSON', Buffer.from('hello').toString('base64url')],
    ['wrong width', encodeCursor(['a'])],
    ['non-string parts', Buffer.from('[1,2]').toString('base64url')],
  ])('refuses a cursor that is %s with InputError naming the cursor', (_why, cursor) => {
    expect(() => decodeCursor(cursor, 2)).toThrow(InputError);
    expect(() => decodeCursor(cursor, 2)).toThrow(/cursor/);
  });

  it('gives a next cursor only when a row beyond the limit was fetched', () => {
    const rows = [{ k: 'a' }, { k: 'b' }, { k: 'c' }];
    const full = toPage(rows, 2, (r) => [r.k], (r) => r.k);
    expect(full).toEqual({ items: ['a', 'b'], next_cursor: encodeCursor(['b']) });
    const last = toPage(rows.slice(0, 2), 2, (r) => [r.k], (r) => r.k);
    expect(last).toEqual({ items: ['a', 'b'], next_cursor: null });
  });
});
