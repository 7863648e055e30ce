import {
  incidentDeadlineStatus, intervalsOverlap, jitteredDelayMs, machineHealthOf, monthRange, nextHealthySweeps, rollupHealth, severityFor,
  shouldAutoResolve, windowCovers, type MaintenanceWindowScope,
} from './rules.js';
import { incidentDeadlines } from './tier-deadlines.js';

describe('machine health roll-up', () => {
  it.each([
    [['ok', 'ok'], 'ok'],
    [['ok', 'warning'], 'degraded'],
    [['warning', 'critical', 'ok'], 'failed'],
    [['ok', 'unknown'], 'unknown'],
    [['unknown', 'warning'], 'degraded'],
    [['critical', 'unknown'], 'failed'],
    [[], 'unknown'],
  ] as const)('%j → %s', (statuses, expected) => {
    expect(rollupHealth(statuses)).toBe(expected);
  });

  it('maps component statuses to machine health', () => {
    expect([machineHealthOf('ok'), machineHealthOf('warning'), machineHealthOf('critical'), machineHealthOf('unknown')]).toEqual(['ok', 'degraded', 'failed', 'unknown']);
  });
});

describe('severity mapping', () => {
  it('critical is major, warning is minor, ok and unknown open nothing', () => {
    expect(severityFor('critical')).toBe('major');
    expect(severityFor('warning')).toBe('minor');
    expect(severityFor('ok')).toBeNull();
    expect(severityFor('unknown')).toBeNull();
  });
});

describe('auto-resolve counting', () => {
  it('counts healthy and absent sweeps, holds on unknown, resets on a fault', () => {
    let n = 0;
    n = nextHealthySweeps(n, 'ok');
    expect(n).toBe(1);
    expect(shouldAutoResolve(n, 2)).toBe(false);
    n = nextHealthySweeps(n, 'unknown');
    expect(n).toBe(1);
    n = nextHealthySweeps(n, 'warning');
    expect(n).toBe(0);
    n = nextHealthySweeps(nextHealthySweeps(n, 'ok'), 'absent');
    expect(n).toBe(2);
    expect(shouldAutoResolve(n, 2)).toBe(true);
  });

  it('never resolves on zero healthy sweeps, even with a threshold of 0', () => {
    expect(shouldAutoResolve(0, 0)).toBe(false);
    expect(shouldAutoResolve(1, 0)).toBe(true);
  });
});

describe('maintenance windows', () => {
  const machine = { id: 'm1', rackId: 'r1', siteId: 's1' };
  const w = (scope: MaintenanceWindowScope['scope'], targetId: string, over: Partial<MaintenanceWindowScope> = {}): MaintenanceWindowScope => ({
    scope, targetId, startsAt: '2026-11-26T10:00:00.000Z', endsAt: '2026-11-26T12:00:00.000Z', ...over,
  });
  const at = new Date('2026-11-26T11:00:00.000Z');

  it('covers the machine by machine, rack or site scope', () => {
    expect(windowCovers(w('machine', 'm1'), machine, at)).toBe(true);
    expect(windowCovers(w('rack', 'r1'), machine, at)).toBe(true);
    expect(windowCovers(w('site', 's1'), machine, at)).toBe(true);
    expect(windowCovers(w('machine', 'm2'), machine, at)).toBe(false);
    expect(windowCovers(w('rack', 'r2'), machine, at)).toBe(false);
    expect(windowCovers(w('rack', 'r1'), { ...machine, rackId: null }, at)).toBe(false);
  });

  it('is in force from its start (inclusive) to its end (exclusive), unless cancelled', () => {
    expect(windowCovers(w('site', 's1'), machine, new Date('2026-11-26T10:00:00.000Z'))).toBe(true);
    expect(windowCovers(w('site', 's1'), machine, new Date('2026-11-26T12:00:00.000Z'))).toBe(false);
    expect(windowCovers(w('site', 's1'), machine, new Date('2026-11-26T09:59:59.999Z'))).toBe(false);
    expect(windowCovers(w('site', 's1', { cancelledAt: '2026-11-26T09:00:00.000Z' }), machine, at)).toBe(false);
  });

  it('detects overlapping intervals; touching ends do not overlap', () => {
    const a = { startsAt: '2026-11-26T10:00:00Z', endsAt: '2026-11-26T12:00:00Z' };
    expect(intervalsOverlap(a, { startsAt: '2026-11-26T11:00:00Z', endsAt: '2026-11-26T13:00:00Z' })).toBe(true);
    expect(intervalsOverlap(a, { startsAt: '2026-11-26T09:00:00Z', endsAt: '2026-11-26T10:30:00Z' })).toBe(true);
    expect(intervalsOverlap(a, { startsAt: '2026-11-26T10:30:00Z', endsAt: '2026-11-26T11:00:00Z' })).toBe(true);
    expect(intervalsOverlap(a, { startsAt: '2026-11-26T12:00:00Z', endsAt: '2026-11-26T13:00:00Z' })).toBe(false);
    expect(intervalsOverlap(a, { startsAt: '2026-11-26T08:00:00Z', endsAt: '2026-11-26T10:00:00Z' })).toBe(false);
  });
});

describe('incident deadline status', () => {
  const openedAt = '2026-11-26T10:00:00.000Z';
  const d = incidentDeadlines('managed', 'major', openedAt);
  const base = { openedAt, notifyBy: d.notifyBy, processBy: d.processBy, resolveBy: d.resolveBy, notifiedAt: null, acknowledgedAt: null, resolvedAt: null };
  const t = (iso: string): Date => new Date(iso);

  it('is on track early, at risk near the notification deadline, breached after it', () => {
    expect(incidentDeadlineStatus(base, t('2026-11-26T10:05:00Z'))).toBe('on_track');
    expect(incidentDeadlineStatus(base, t('2026-11-26T10:25:00Z'))).toBe('at_risk');
    expect(incidentDeadlineStatus(base, t('2026-11-26T10:31:00Z'))).toBe('breached');
  });

  it('acknowledgement meets the processing deadline; the worst remaining clock wins', () => {
    const handled = { ...base, notifiedAt: '2026-11-26T10:01:00Z', acknowledgedAt: '2026-11-26T11:00:00Z' };
    expect(incidentDeadlineStatus(handled, t('2026-11-26T12:00:00Z'))).toBe('on_track');
    expect(incidentDeadlineStatus(handled, t('2026-11-26T13:30:00Z'))).toBe('at_risk');
    expect(incidentDeadlineStatus(handled, t('2026-11-26T14:01:00Z'))).toBe('breached');
    expect(incidentDeadlineStatus({ ...handled, resolvedAt: '2026-11-26T13:00:00Z' }, t('2026-11-27T00:00:00Z'))).toBe('met');
    expect(incidentDeadlineStatus({ ...handled, resolvedAt: '2026-11-26T15:00:00Z' }, t('2026-11-27T00:00:00Z'))).toBe('missed');
  });

  it('is null without any customer clock', () => {
    expect(incidentDeadlineStatus({ ...base, notifyBy: null, processBy: null, resolveBy: null }, t('2026-11-27T00:00:00Z'))).toBeNull();
  });
});

describe('month ranges and jitter', () => {
  it('turns YYYY-MM into a UTC [start, end) range and rejects other forms', () => {
    expect(monthRange('2026-12')).toEqual({ start: '2026-12-01T00:00:00.000Z', end: '2027-01-01T00:00:00.000Z' });
    expect(monthRange('2026-13')).toBeNull();
    expect(monthRange('2026-1')).toBeNull();
  });

  it('spreads the interval by ± the jitter fraction', () => {
    expect(jitteredDelayMs(900_000, 0.1, () => 0)).toBe(810_000);
    expect(jitteredDelayMs(900_000, 0.1, () => 1)).toBe(990_000);
    expect(jitteredDelayMs(900_000, 0, () => 0.7)).toBe(900_000);
  });
});
