/**
 * API roles. `admin` may do everything; `technician` manages inventory and operates machines;
 * `pipeline` is the order system (orders, and reading machines/sites); `viewer` reads.
 */
export const API_ROLES = ['admin', 'technician', 'pipeline', 'viewer'] as const;
export type ApiRole = (typeof API_ROLES)[number];

export function isApiRole(value: string): value is ApiRole {
  return (API_ROLES as readonly string[]).includes(value);
}
