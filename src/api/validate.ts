import type { z } from 'zod';
import { InputError, type ErrorDetail } from '../errors.js';
import { nulPaths } from '../inventory/validate.js';

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
  throw invalid(where, issuesToDetails(result.error.issues, where));
}

/** InputError whose message names the first problem and whose details list all of them. */
function invalid(where: Where, details: ErrorDetail[]): InputError {
  const first = details[0]!;
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  return new InputError(`invalid ${where}: ${first.field}: ${first.message}${more}`, { details });
}

/** Refuses text holding a NUL character anywhere in `value` (see nulPaths) with a 400 naming each field. */
export function rejectNul(value: unknown, where: Where): void {
  const found = nulPaths(value);
  if (found.length === 0) return;
  throw invalid(where, found.map((path) => ({ field: fieldName(path) || where, message: 'must not contain a NUL character (\\u0000)', in: where })));
}
