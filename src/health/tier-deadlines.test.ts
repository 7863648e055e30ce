import { deadlineStatus, incidentDeadlines, monthlyAllowanceMs, worstStatus } from './tier-deadlines.js';

describe('tier deadlines', () => {
  const openedAt = '2026-11-26T10:00:00.000Z';

  it('gives managed customers 2 h to process a major incident and 4 h to resolve it', () => {
    expect(incidentDeadlines('managed', 'major', openedAt)).toEqual({
      notifyBy: '2026-11-26T10:30:00.000Z',
      processBy: '2026-11-26T12:00:00.000Z',
      resolveBy: '2026-11-26T14:00:00.000Z',
    });
  });

  it('gives fully managed customers 30 min and 2 h', () => {
    expect(incidentDeadlines('fully_managed', 'major', openedAt)).toEqual({
      notifyBy: '2026-11-26T10:30:00.000Z',
      processBy: '2026-11-26T10:30:00.000Z',
      resolveBy: '2026-11-26T12:00:00.000Z',
    });
  });

  it('sets no processing deadline for minor incidents and only notification for unmanaged', () => {
    expect(incidentDeadlines('managed', 'minor', openedAt).processBy).toBeNull();
    expect(incidentDeadlines('unmanaged', 'major', openedAt)).toEqual({ notifyBy: '2026-11-26T10:30:00.000Z', processBy: null, resolveBy: null });
  });

  it('knows the monthly intervention allowance per tier', () => {
    expect(monthlyAllowanceMs('managed')).toBe(2 * 3_600_000);
    expect(monthlyAllowanceMs('fully_managed')).toBe(5 * 3_600_000);
  });

  it.each([
    ['2026-11-26T11:00:00.000Z', null, 'on_track'],
    ['2026-11-26T13:30:00.000Z', null, 'at_risk'],
    ['2026-11-26T14:00:00.001Z', null, 'breached'],
    ['2026-11-27T00:00:00.000Z', '2026-11-26T13:59:00.000Z', 'met'],
    ['2026-11-27T00:00:00.000Z', '2026-11-26T14:01:00.000Z', 'missed'],
  ])('a 4 h resolution deadline at %s (done %s) is %s', (now, doneAt, status) => {
    expect(deadlineStatus(openedAt, '2026-11-26T14:00:00.000Z', doneAt, new Date(now))).toBe(status);
  });

  it('reports the worst clock of an incident', () => {
    expect(worstStatus(['met', 'at_risk', null, 'on_track'])).toBe('at_risk');
    expect(worstStatus([null, null])).toBeNull();
  });
});
