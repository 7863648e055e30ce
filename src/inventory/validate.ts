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
