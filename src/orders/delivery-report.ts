import type { Knex } from 'knex';
import { toIso } from '../db/sql.js';
import { deliveryStatus, type DeliveryClockStatus } from './delivery-clock.js';

/** Why an order missed (or is missing) its deadline, for the operator's report. */
export type MissCause = 'no_capacity' | 'hardware_failure' | 'install_failure' | 'bmc_unreachable' | 'cancelled' | 'unknown';

export interface ReportOrder {
  id: string;
  externalId: string;
  customerId: string;
  country: string;
  site: string | null;
  status: string;
  paidAt: string;
  deadlineAt: string;
  deliveredAt: string | null;
  missCause: string | null;
  /** True when the order never had a machine (so a miss is a capacity problem). */
  everAllocated: boolean;
}

export interface DeliveryReport {
  from: string;
  to: string;
  generated_at: string;
  counts: { orders: number; delivered: number; met: number; missed: number; breached: number; on_track: number; at_risk: number; cancelled: number };
  /** met ÷ (met + missed + breached), in percent; null when no order has reached its deadline or delivery. */
  on_time_percentage: number | null;
  delivery_time_seconds: { p50: number | null; p95: number | null; max: number | null };
  misses: { order_id: string; external_id: string; customer_id: string; status: DeliveryClockStatus; cause: MissCause; paid_at: string; deadline_at: string; delivered_at: string | null }[];
}

/** Nearest-rank percentile of sorted numbers. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function missCauseOf(o: ReportOrder): MissCause {
  if (o.status === 'cancelled') return 'cancelled';
  if (o.missCause && ['hardware_failure', 'install_failure', 'bmc_unreachable', 'no_capacity'].includes(o.missCause)) return o.missCause as MissCause;
  return o.everAllocated ? 'unknown' : 'no_capacity';
}

/** Pure: builds the report from the orders paid in [from, to). */
export function buildDeliveryReport(orders: ReportOrder[], from: string, to: string, now: Date): DeliveryReport {
  const counts = { orders: orders.length, delivered: 0, met: 0, missed: 0, breached: 0, on_track: 0, at_risk: 0, cancelled: 0 };
  const durations: number[] = [];
  const misses: DeliveryReport['misses'] = [];
  for (const o of orders) {
    if (o.status === 'cancelled') {
      counts.cancelled++;
      continue;
    }
    const status = deliveryStatus({ paidAt: o.paidAt, deadlineAt: o.deadlineAt, deliveredAt: o.deliveredAt }, now);
    counts[status]++;
    if (o.deliveredAt) {
      counts.delivered++;
      durations.push((Date.parse(o.deliveredAt) - Date.parse(o.paidAt)) / 1000);
    }
    if (status === 'missed' || status === 'breached') {
      misses.push({ order_id: o.id, external_id: o.externalId, customer_id: o.customerId, status, cause: missCauseOf(o), paid_at: o.paidAt, deadline_at: o.deadlineAt, delivered_at: o.deliveredAt });
    }
  }
  durations.sort((a, b) => a - b);
  const decided = counts.met + counts.missed + counts.breached;
  return {
    from,
    to,
    generated_at: now.toISOString(),
    counts,
    on_time_percentage: decided === 0 ? null : Math.round((counts.met / decided) * 10_000) / 100,
    delivery_time_seconds: { p50: percentile(durations, 50), p95: percentile(durations, 95), max: durations.length ? durations[durations.length - 1]! : null },
    misses,
  };
}

export async function loadReportOrders(knex: Knex, from: string, to: string): Promise<ReportOrder[]> {
  const rows = await knex('orders')
    .where('paid_at', '>=', from)
    .andWhere('paid_at', '<', to)
    .orderBy('paid_at')
    .select('orders.*', knex.raw('(select count(*) from workflows w where w.order_id = orders.id) as workflow_count'));
  return rows.map((r: Record<string, unknown>) => ({
    id: String(r.id),
    externalId: String(r.external_id),
    customerId: String(r.customer_id),
    country: String(r.country),
    site: (r.site_code as string | null) ?? null,
    status: String(r.status),
    paidAt: toIso(r.paid_at)!,
    deadlineAt: toIso(r.deadline_at)!,
    deliveredAt: toIso(r.delivered_at),
    missCause: (r.miss_cause as string | null) ?? null,
    everAllocated: r.machine_id !== null || Number(r.workflow_count) > 0,
  }));
}

const CSV_COLUMNS = ['order_id', 'external_id', 'customer_id', 'country', 'site', 'status', 'paid_at', 'deadline_at', 'delivered_at', 'delivery_seconds', 'clock_status', 'miss_cause'] as const;

function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  // Quote when needed; a leading = + - @ is neutralised so spreadsheets do not run it as a formula.
  const safe = /^[=+\-@]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) || safe !== s ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** One row per order paid in the window, for spreadsheets. */
export function deliveryReportCsv(orders: ReportOrder[], now: Date): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const o of orders) {
    const status = o.status === 'cancelled' ? 'cancelled' : deliveryStatus({ paidAt: o.paidAt, deadlineAt: o.deadlineAt, deliveredAt: o.deliveredAt }, now);
    const missed = status === 'missed' || status === 'breached';
    lines.push([
      o.id, o.externalId, o.customerId, o.country, o.site, o.status, o.paidAt, o.deadlineAt, o.deliveredAt,
      o.deliveredAt ? Math.round((Date.parse(o.deliveredAt) - Date.parse(o.paidAt)) / 1000) : null,
      status, missed ? missCauseOf(o) : null,
    ].map(csvField).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}
