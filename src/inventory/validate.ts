import type { z } from 'zod';
import { InputError, type ErrorDetail } from '../errors.js';

/** `['machines', 3, 'nics', 0, 'mac']` → `machines[3].nics[0].mac`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** One detail per zod issue; unknown keys get one detail each so the field names the key. */
export function issueDetails(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): { path: PropertyKey[]; message: string }[] {
  const out: { path: PropertyKey[]; message: string }[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...path, key], message: 'unknown field' });
    } else if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) {
      out.push({ path, message: 'required' });
    } else if (issue.code === 'invalid_type' && issue.expected === 'string' && /received (number|boolean)/.test(issue.message)) {
      // YAML reads 000123 as the number 123 and yes as true; converting back would lose data.
      out.push({ path, message: 'must be text: put the value in quotes' });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0 && issue.errors[0]!.length > 0) {
      out.push({ path, message: issue.errors[0]![0]!.message });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

/** Parses `value` with `schema` or throws InputError (400) with `details: [{field, message}]`. */
export function validateInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details: ErrorDetail[] = issueDetails(result.error.issues).map((d) => ({ field: formatPath(d.path) || '(root)', message: d.message }));
  const first = details[0]!;
  throw new InputError(`${what}: ${first.field}: ${first.message}${details.length > 1 ? ` (and ${details.length - 1} more)` : ''}`, { details });
}

/**
 * Paths of the strings (and keys) in `value` that hold a NUL character; a key is named with `\0`
 * in its place. PostgreSQL cannot store NUL in text (the statement fails outright) and SQLite would
 * store it silently; no Anvil field has a use for it, so callers refuse it on both databases alike.
 */
export function nulPaths(value: unknown): (string | number)[][] {
  // Every request body and import goes through here; the paths are built only when one is there.
  return holdsNul(value) ? collectNulPaths(value, [], []) : [];
}

function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(holdsNul);
  for (const k in value) if (k.includes('\u0000') || holdsNul((value as Record<string, unknown>)[k])) return true;
  return false;
}

function collectNulPaths(value: unknown, path: (string | number)[], out: (string | number)[][]): (string | number)[][] {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) out.push(path);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => collectNulPaths(v, [...path, i], out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\u0000')) out.push([...path, k.replace(/\u0000/g, '\\0')]);
      else collectNulPaths(v, [...path, k], out);
    }
  }
  return out;
}
