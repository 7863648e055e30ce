/**
 * The contract's delivery clock: a dedicated server is delivered within the delivery window
 * (24 h by default) of payment. Pure: every function takes `now`.
 */
export type DeliveryClockStatus = 'on_track' | 'at_risk' | 'breached' | 'met' | 'missed';

export interface DeliveryClockInput {
  paidAt: string;
  deadlineAt: string;
  deliveredAt: string | null;
  /** Cancelled orders stop their clock; the status freezes at the cancellation instant. */
  stoppedAt?: string | null;
}

export const DEFAULT_DELIVERY_WINDOW_HOURS = 24;
export const DEFAULT_AT_RISK_HOURS = 4;

export function deadlineFor(paidAt: string, windowHours: number = DEFAULT_DELIVERY_WINDOW_HOURS): string {
  return new Date(Date.parse(paidAt) + windowHours * 3_600_000).toISOString();
}

export function deliveryStatus(clock: DeliveryClockInput, now: Date, atRiskHours: number = DEFAULT_AT_RISK_HOURS): DeliveryClockStatus {
  const deadline = Date.parse(clock.deadlineAt);
  if (clock.deliveredAt) return Date.parse(clock.deliveredAt) <= deadline ? 'met' : 'missed';
  const at = clock.stoppedAt ? Date.parse(clock.stoppedAt) : now.getTime();
  if (at > deadline) return 'breached';
  return deadline - at < atRiskHours * 3_600_000 ? 'at_risk' : 'on_track';
}

/** Milliseconds left before the deadline (negative once breached); null once delivered. */
export function remainingMs(clock: DeliveryClockInput, now: Date): number | null {
  if (clock.deliveredAt) return null;
  return Date.parse(clock.deadlineAt) - now.getTime();
}

/** Delivery time in ms from payment, for reports (p50/p95/max). */
export function deliveryDurationMs(clock: DeliveryClockInput): number | null {
  return clock.deliveredAt ? Date.parse(clock.deliveredAt) - Date.parse(clock.paidAt) : null;
}
