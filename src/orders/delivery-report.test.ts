import { buildDeliveryReport, deliveryReportCsv, percentile, type ReportOrder } from './delivery-report.js';

const base = { customerId: 'c', country: 'MA', site: null, missCause: null, everAllocated: true };
function order(id: string, paidAt: string, deliveredAt: string | null, extra: Partial<ReportOrder> = {}): ReportOrder {
  const deadlineAt = new Date(Date.parse(paidAt) + 24 * 3_600_000).toISOString();
  return { ...base, id, externalId: `E-${id}`, status: deliveredAt ? 'delivered' : 'provisioning', paidAt, deadlineAt, deliveredAt, ...extra };
}

describe('delivery report', () => {
  const now = new Date('2026-11-10T00:00:00.000Z');
  const orders = [
    order('1', '2026-11-01T00:00:00.000Z', '2026-11-01T02:00:00.000Z'),
    order('2', '2026-11-01T00:00:00.000Z', '2026-11-01T06:00:00.000Z'),
    order('3', '2026-11-01T00:00:00.000Z', '2026-11-02T01:00:00.000Z', { missCause: 'install_failure' }),
    order('4', '2026-11-02T00:00:00.000Z', null, { everAllocated: false }),
    order('5', '2026-11-09T12:00:00.000Z', null),
    order('6', '2026-11-02T00:00:00.000Z', null, { status: 'cancelled' }),
  ];

  it('counts outcomes, computes on-time percentage and delivery-time percentiles, and names every miss with its cause', () => {
    const r = buildDeliveryReport(orders, '2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z', now);
    expect(r.counts).toEqual({ orders: 6, delivered: 3, met: 2, missed: 1, breached: 1, on_track: 1, at_risk: 0, cancelled: 1 });
    expect(r.on_time_percentage).toBe(50);
    expect(r.delivery_time_seconds).toEqual({ p50: 6 * 3600, p95: 25 * 3600, max: 25 * 3600 });
    expect(r.misses.map((m) => [m.order_id, m.status, m.cause])).toEqual([
      ['3', 'missed', 'install_failure'],
      ['4', 'breached', 'no_capacity'],
    ]);
  });

  it('uses nearest-rank percentiles', () => {
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([], 50)).toBeNull();
  });

  it('writes CSV with a header, one row per order, and neutralised formula-like fields', () => {
    const csv = deliveryReportCsv([order('x', '2026-11-01T00:00:00.000Z', null, { externalId: '=cmd()', everAllocated: false })], now);
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toBe('order_id,external_id,customer_id,country,site,status,paid_at,deadline_at,delivered_at,delivery_seconds,clock_status,miss_cause');
    expect(lines[1]).toBe(`x,"'=cmd()",c,MA,,provisioning,2026-11-01T00:00:00.000Z,2026-11-02T00:00:00.000Z,,,breached,no_capacity`);
  });
});
