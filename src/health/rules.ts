import type { ComponentKind, ComponentStatus } from '../bmc/driver.js';
import { deadlineStatus, worstStatus, type DeadlineStatus, type IncidentSeverity } from './tier-deadlines.js';

/**
 * The pure decisions of health sweeps and incidents: how component statuses roll up into a
 * machine's health, which findings open which incident, when an incident may auto-resolve, and
 * whether a maintenance window covers a machine. Every function takes its instants as arguments.
 */

/** `machines.health`: the allocator keeps `degraded` and `failed` machines out. */
export type MachineHealth = 'ok' | 'degraded' | 'failed' | 'unknown';

const MACHINE_RANK: Record<MachineHealth, number> = { ok: 0, unknown: 1, degraded: 2, failed: 3 };

/** A component's status as machine health: warning → degraded, critical → failed. */
export function machineHealthOf(status: ComponentStatus): MachineHealth {
  switch (status) {
    case 'ok':
      return 'ok';
    case 'warning':
      return 'degraded';
    case 'critical':
      return 'failed';
    default:
      return 'unknown';
  }
}

/**
 * Machine health = the worst current component. `unknown` ranks above `ok` (what we could not
 * check is never reported healthy) but below real faults, so a failed machine whose BMC stops
 * answering stays failed (its last known components still count). No components at all: unknown.
 */
export function rollupHealth(statuses: Iterable<ComponentStatus>): MachineHealth {
  let worst: MachineHealth | null = null;
  for (const s of statuses) {
    const h = machineHealthOf(s);
    if (worst === null || MACHINE_RANK[h] > MACHINE_RANK[worst]) worst = h;
  }
  return worst ?? 'unknown';
}

/**
 * The incident a finding opens: critical → major (a failed part, a machine down, rejected BMC
 * credentials), warning → minor; ok and unknown open nothing.
 */
export function severityFor(status: ComponentStatus): IncidentSeverity | null {
  if (status === 'critical') return 'major';
  if (status === 'warning') return 'minor';
  return null;
}

/**
 * Consecutive healthy sweeps for an open incident's component after one more sweep. `absent`:
 * the BMC answered and no longer reports the part (a removed drive) — that counts as healthy.
 * `unknown` (the BMC could not be asked) neither counts nor resets.
 */
export function nextHealthySweeps(current: number, status: ComponentStatus | 'absent'): number {
  if (status === 'ok' || status === 'absent') return current + 1;
  if (status === 'unknown') return current;
  return 0;
}

export function shouldAutoResolve(healthySweeps: number, required: number): boolean {
  return healthySweeps >= Math.max(1, required);
}

/** A planned interruption on one machine, a rack or a whole site. */
export interface MaintenanceWindowScope {
  scope: 'machine' | 'rack' | 'site';
  targetId: string;
  startsAt: string;
  endsAt: string;
  cancelledAt?: string | null;
}

export interface MachinePlace {
  id: string;
  rackId: string | null;
  siteId: string;
}

/** Whether the window is in force at `at` (start inclusive, end exclusive) and covers the machine. */
export function windowCovers(window: MaintenanceWindowScope, machine: MachinePlace, at: Date): boolean {
  if (window.cancelledAt) return false;
  const t = at.getTime();
  if (t < Date.parse(window.startsAt) || t >= Date.parse(window.endsAt)) return false;
  switch (window.scope) {
    case 'machine':
      return window.targetId === machine.id;
    case 'rack':
      return machine.rackId !== null && window.targetId === machine.rackId;
    case 'site':
      return window.targetId === machine.siteId;
  }
}

/** Whether two half-open intervals [start, end) share any instant. */
export function intervalsOverlap(a: { startsAt: string; endsAt: string }, b: { startsAt: string; endsAt: string }): boolean {
  return Date.parse(a.startsAt) < Date.parse(b.endsAt) && Date.parse(b.startsAt) < Date.parse(a.endsAt);
}

/** The clocks of one incident, as stored. */
export interface IncidentClocks {
  openedAt: string;
  notifyBy: string | null;
  processBy: string | null;
  resolveBy: string | null;
  notifiedAt: string | null;
  acknowledgedAt: string | null;
  resolvedAt: string | null;
}

/**
 * The incident's deadline status: the worst of its clocks (notified by, processed by — met by
 * acknowledgement —, resolved by). Null when the incident carries no customer clock.
 */
export function incidentDeadlineStatus(i: IncidentClocks, now: Date): DeadlineStatus | null {
  // Processing a major incident is done once a technician acknowledged it; resolving also counts.
  const processedAt = i.acknowledgedAt ?? i.resolvedAt;
  return worstStatus([
    deadlineStatus(i.openedAt, i.notifyBy, i.notifiedAt, now),
    deadlineStatus(i.openedAt, i.processBy, processedAt, now),
    deadlineStatus(i.openedAt, i.resolveBy, i.resolvedAt, now),
  ]);
}

/** Kinds whose findings are explained by a part's own fault (a log line about a failed drive). */
export function isLogKind(kind: ComponentKind): boolean {
  return kind === 'log';
}

/** Validates `YYYY-MM` and returns the month's [start, end) as ISO instants (UTC). */
export function monthRange(month: string): { start: string; end: string } | null {
  const m = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(month);
  if (!m) return null;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  return { start: new Date(Date.UTC(y, mo - 1, 1)).toISOString(), end: new Date(Date.UTC(y, mo, 1)).toISOString() };
}

/** The delay before the next scheduled sweep: the interval ± `jitterFraction`, never below a minute's tenth. */
export function jitteredDelayMs(intervalMs: number, jitterFraction: number, random: () => number = Math.random): number {
  const spread = intervalMs * Math.max(0, Math.min(1, jitterFraction));
  return Math.max(6_000, Math.round(intervalMs - spread + random() * 2 * spread));
}
