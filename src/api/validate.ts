import type { z } from 'zod';
import { InputError, type ErrorDetail } from '../errors.js';

export type Where = 'body' | 'query' | 'params';

function fieldName(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** Turns zod issues into `[{field, message}]`, one entry per unknown key. */
export function issuesToDetails(issues: z.core.$ZodIssue[], where: Where): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) details.push({ field: fieldName([...issue.path, key]), message: 'unknown field', in: where });
    } else if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) {
      details.push({ field: fieldName(issue.path) || where, message: 'required', in: where });
    } else if (issue.code === 'invalid_union' && issue.errors[0]?.[0]) {
      details.push({ field: fieldName(issue.path) || where, message: issue.errors[0][0].message, in: where });
    } else {
      details.push({ field: fieldName(issue.path) || where, message: issue.message, in: where });
    }
  }
  return details;
}

/**
 * Parses `value` with `schema` or throws InputError (400) whose message names the first problem
 * and whose details list all of them as `{field, message}`.
 */
export function validate<S extends z.ZodType>(schema: S, value: unknown, where: Where): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = issuesToDetails(result.error.issues, where);
  const first = details[0]!;
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  throw new InputError(`invalid ${where}: ${first.field}: ${first.message}${more}`, { details });
}

/** Where a NUL character was found: the dotted path of the field, or the key itself when a key holds it. */
function findNul(value: unknown, path: PropertyKey[], out: PropertyKey[][], seen: Set<object>): void {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) out.push(path);
    return;
  }
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (Array.isArray(value)) {
    value.forEach((v, i) => findNul(v, [...path, i], out, seen));
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000')) out.push([...path, k.replace(/\u0000/g, '\\0')]);
    else findNul(v, [...path, k], out, seen);
  }
}

/**
 * Refuses text holding a NUL character anywhere in `value`. PostgreSQL cannot store NUL in text
 * columns (it fails the whole statement with a 500), and SQLite would store it silently; no
 * Anvil field has a use for it, so both databases get the same 400 naming the field.
 */
export function rejectNul(value: unknown, where: Where): void {
  const found: PropertyKey[][] = [];
  findNul(value, [], found, new Set());
  if (found.length === 0) return;
  const details: ErrorDetail[] = found.map((path) => ({ field: fieldName(path) || where, message: 'must not contain a NUL character (\\u0000)', in: where }));
  const first = details[0]!;
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  throw new InputError(`invalid ${where}: ${first.field}: ${first.message}${more}`, { details });
}
