/**
 * Incident deadlines from the customer's support tier (the contract):
 * - every tier: the customer is informed within 30 minutes (on average);
 * - managed: a major incident is processed within 2 h; every incident is resolved within 4 h;
 * - fully_managed: a major incident is processed within 30 min; every incident is resolved within 2 h;
 * - unmanaged: notification only.
 * Monthly intervention allowance: managed 2 h, fully_managed 5 h.
 * Pure: every function takes its instants as arguments.
 */
export type SupportTier = 'unmanaged' | 'managed' | 'fully_managed';
export type IncidentSeverity = 'major' | 'minor';
export const DEADLINE_STATUSES = ['on_track', 'at_risk', 'breached', 'met', 'missed'] as const;
export type DeadlineStatus = (typeof DEADLINE_STATUSES)[number];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const NOTIFY_WITHIN_MS = 30 * MINUTE;

const TIER_RULES: Record<SupportTier, { processMajorMs: number | null; resolveMs: number | null; monthlyAllowanceMs: number }> = {
  unmanaged: { processMajorMs: null, resolveMs: null, monthlyAllowanceMs: 0 },
  managed: { processMajorMs: 2 * HOUR, resolveMs: 4 * HOUR, monthlyAllowanceMs: 2 * HOUR },
  fully_managed: { processMajorMs: 30 * MINUTE, resolveMs: 2 * HOUR, monthlyAllowanceMs: 5 * HOUR },
};

export interface IncidentDeadlines {
  notifyBy: string;
  /** Null when the tier sets no processing deadline for this severity. */
  processBy: string | null;
  resolveBy: string | null;
}

export function incidentDeadlines(tier: SupportTier, severity: IncidentSeverity, openedAt: string): IncidentDeadlines {
  const t0 = Date.parse(openedAt);
  const rules = TIER_RULES[tier];
  const iso = (ms: number | null) => (ms === null ? null : new Date(t0 + ms).toISOString());
  return {
    notifyBy: new Date(t0 + NOTIFY_WITHIN_MS).toISOString(),
    processBy: severity === 'major' ? iso(rules.processMajorMs) : null,
    resolveBy: iso(rules.resolveMs),
  };
}

export function monthlyAllowanceMs(tier: SupportTier): number {
  return TIER_RULES[tier].monthlyAllowanceMs;
}

/**
 * Status of one deadline: done (met/missed by `doneAt`), or pending (on_track / at_risk when less
 * than `atRiskFraction` of the window remains / breached).
 */
export function deadlineStatus(startedAt: string, due: string | null, doneAt: string | null, now: Date, atRiskFraction = 0.25): DeadlineStatus | null {
  if (due === null) return null;
  const dueMs = Date.parse(due);
  if (doneAt) return Date.parse(doneAt) <= dueMs ? 'met' : 'missed';
  const left = dueMs - now.getTime();
  if (left < 0) return 'breached';
  return left <= (dueMs - Date.parse(startedAt)) * atRiskFraction ? 'at_risk' : 'on_track';
}

const RANK: Record<DeadlineStatus, number> = { met: 0, on_track: 1, at_risk: 2, missed: 3, breached: 4 };

/** The worst of several deadline statuses (an incident reports its worst clock). */
export function worstStatus(statuses: (DeadlineStatus | null)[]): DeadlineStatus | null {
  let worst: DeadlineStatus | null = null;
  for (const s of statuses) if (s && (worst === null || RANK[s] > RANK[worst])) worst = s;
  return worst;
}
