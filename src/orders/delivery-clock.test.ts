import { deadlineFor, deliveryStatus, remainingMs, deliveryDurationMs } from './delivery-clock.js';

describe('delivery clock', () => {
  const paidAt = '2026-11-26T08:00:00.000Z';
  const deadlineAt = deadlineFor(paidAt);

  it('puts the deadline 24 hours after payment by default, or after the site/product window', () => {
    expect(deadlineAt).toBe('2026-11-27T08:00:00.000Z');
    expect(deadlineFor(paidAt, 48)).toBe('2026-11-28T08:00:00.000Z');
  });

  it.each([
    ['2026-11-26T09:00:00.000Z', 'on_track'],
    ['2026-11-27T04:00:00.000Z', 'on_track'],
    ['2026-11-27T04:00:00.001Z', 'at_risk'],
    ['2026-11-27T08:00:00.000Z', 'at_risk'],
    ['2026-11-27T08:00:00.001Z', 'breached'],
  ])('an undelivered order at %s is %s', (now, status) => {
    expect(deliveryStatus({ paidAt, deadlineAt, deliveredAt: null }, new Date(now))).toBe(status);
  });

  it('is met when delivered by the deadline and missed after it, whatever the time now', () => {
    const later = new Date('2027-01-01T00:00:00Z');
    expect(deliveryStatus({ paidAt, deadlineAt, deliveredAt: '2026-11-27T08:00:00.000Z' }, later)).toBe('met');
    expect(deliveryStatus({ paidAt, deadlineAt, deliveredAt: '2026-11-27T08:00:01.000Z' }, later)).toBe('missed');
  });

  it('freezes at the instant the clock was stopped', () => {
    const now = new Date('2026-12-01T00:00:00Z');
    expect(deliveryStatus({ paidAt, deadlineAt, deliveredAt: null, stoppedAt: '2026-11-26T10:00:00.000Z' }, now)).toBe('on_track');
  });

  it('reports the remaining time and the delivery duration', () => {
    expect(remainingMs({ paidAt, deadlineAt, deliveredAt: null }, new Date('2026-11-27T07:00:00Z'))).toBe(3_600_000);
    expect(deliveryDurationMs({ paidAt, deadlineAt, deliveredAt: '2026-11-26T09:30:00.000Z' })).toBe(5_400_000);
  });
});
