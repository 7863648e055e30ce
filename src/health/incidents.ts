import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { ComponentStatus } from '../bmc/driver.js';
import { systemClock, type Clock } from '../clock.js';
import { writeAudit, type Actor } from '../db/repositories/audit.js';
import { isUniqueViolation, toCount, toIso } from '../db/sql.js';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import type { Notifier } from '../notifications/outbox.js';
import { loadMachineContext, type MachineContext } from './machine-context.js';
import { incidentDeadlineStatus, monthRange, nextHealthySweeps, shouldAutoResolve } from './rules.js';
import { incidentDeadlines, monthlyAllowanceMs, type DeadlineStatus, type IncidentSeverity, type SupportTier } from './tier-deadlines.js';

/**
 * Incidents: opened by a sweep on a degraded or failed component (one per machine + component
 * while open) or by a technician; for a machine serving a customer they carry the customer's tier
 * deadlines and the customer is notified through the outbox in the same transaction.
 * `open → acknowledged → resolved`; every change writes an audit row.
 */

export type IncidentStatus = 'open' | 'acknowledged' | 'resolved';

/** An incident as the API returns it (snake_case, ISO times). */
export interface IncidentRecord {
  id: string;
  machine_id: string;
  machine_serial: string;
  component: string;
  order_id: string | null;
  customer_id: string | null;
  support_tier: SupportTier | null;
  severity: IncidentSeverity;
  status: IncidentStatus;
  source: 'auto' | 'technician';
  title: string;
  message: string | null;
  opened_at: string;
  acknowledged_at: string | null;
  resolved_at: string | null;
  notify_by: string | null;
  process_by: string | null;
  resolve_by: string | null;
  notified_at: string | null;
  deadline_status: DeadlineStatus | null;
  healthy_sweeps: number;
  resolved_reason: string | null;
  opened_by: string;
  resolved_by: string | null;
}

export interface IncidentDetail extends IncidentRecord {
  notes: { at: string; author: string; text: string }[];
  interventions: { minutes: number; by: string; at: string; note: string | null }[];
  intervention_minutes: number;
}

export interface IncidentFilter {
  status?: IncidentStatus | 'unresolved';
  severity?: IncidentSeverity;
  deadline_status?: DeadlineStatus;
  machine?: string;
  customer?: string;
  limit?: number;
}

export interface InterventionReportRow {
  customer_id: string;
  support_tier: SupportTier;
  incidents: number;
  intervention_minutes: number;
  allowance_minutes: number;
  over_allowance_minutes: number;
}

export interface IncidentServiceDeps {
  knex: Knex;
  clock?: Clock;
  /** The outbox; without one, customers are not notified (and `notified_at` stays empty). */
  notifier?: Notifier | null;
  logger?: Logger;
}

/** A finding from a sweep that may open (or escalate) an incident. */
export interface Finding {
  component: string;
  status: ComponentStatus;
  message: string;
}

const SWEEPER: Actor = { name: 'system:sweeper' };

export class IncidentService {
  private readonly knex: Knex;
  private readonly clock: Clock;
  private readonly notifier: Notifier | null;

  constructor(private readonly deps: IncidentServiceDeps) {
    this.knex = deps.knex;
    this.clock = deps.clock ?? systemClock;
    this.notifier = deps.notifier ?? null;
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  // ------------------------------------------------------------------ opening

  /**
   * Opens an incident for a sweep finding unless one is already open for this machine and
   * component; an open minor incident whose component turned critical is escalated to major
   * (its processing deadline appears). Returns the incident opened, or null.
   */
  async openFromFinding(trx: Knex.Transaction, machine: MachineContext, finding: Finding, severity: IncidentSeverity): Promise<IncidentRecord | null> {
    const existing = await trx('incidents').where({ machine_id: machine.id, component: finding.component }).whereNot('status', 'resolved').first();
    if (existing) {
      const update: Record<string, unknown> = { healthy_sweeps: 0, updated_at: this.now() };
      if (existing.severity === 'minor' && severity === 'major') {
        update.severity = 'major';
        if (existing.support_tier) {
          update.process_by = incidentDeadlines(existing.support_tier as SupportTier, 'major', toIso(existing.opened_at)!).processBy;
        }
        await writeAudit(trx, SWEEPER, { action: 'incident.escalate', targetType: 'incident', targetId: String(existing.id), after: { severity: 'major' }, reason: finding.message }, this.now());
      }
      await trx('incidents').where({ id: existing.id }).update(update);
      return null;
    }
    const title = `${machine.serial}: ${finding.component} ${finding.status === 'critical' ? 'failed' : 'degraded'}`;
    try {
      // A savepoint: a one-machine sweep racing a site sweep may open the same incident first; the
      // unique index refuses the second, and on PostgreSQL only a savepoint keeps the rest of
      // this machine's record alive after that.
      return await trx.transaction((sp) => this.insert(sp, machine, { component: finding.component, severity, title, message: finding.message, source: 'auto' }, SWEEPER));
    } catch (err) {
      if (err instanceof ConflictError) return null;
      throw err;
    }
  }

  /** A technician opens an incident (e.g. a customer's report the sweep cannot see). */
  async create(input: { machine: string; severity: IncidentSeverity; title: string; message?: string | null; component?: string | null }, actor: Actor): Promise<IncidentDetail> {
    const id = await this.knex.transaction(async (trx) => {
      const machine = await loadMachineContext(trx, input.machine);
      const component = input.component?.trim() || `manual:${randomUUID().slice(0, 8)}`;
      const record = await this.insert(trx, machine, { component, severity: input.severity, title: input.title, message: input.message ?? null, source: 'technician' }, actor);
      return record.id;
    });
    return this.get(id);
  }

  private async insert(
    trx: Knex.Transaction,
    machine: MachineContext,
    input: { component: string; severity: IncidentSeverity; title: string; message: string | null; source: 'auto' | 'technician' },
    actor: Actor,
  ): Promise<IncidentRecord> {
    const now = this.now();
    const id = randomUUID();
    const customer = machine.customer;
    const deadlines = customer ? incidentDeadlines(customer.supportTier, input.severity, now) : null;
    const row = {
      id,
      machine_id: machine.id,
      component: input.component,
      order_id: customer?.orderId ?? null,
      customer_id: customer?.customerId ?? null,
      support_tier: customer?.supportTier ?? null,
      severity: input.severity,
      status: 'open',
      source: input.source,
      title: input.title.slice(0, 300),
      message: input.message,
      opened_at: now,
      notify_by: deadlines?.notifyBy ?? null,
      process_by: deadlines?.processBy ?? null,
      resolve_by: deadlines?.resolveBy ?? null,
      notified_at: null as string | null,
      deadline_status: null as DeadlineStatus | null,
      healthy_sweeps: 0,
      opened_by: actor.name,
      updated_at: now,
    };
    try {
      await trx('incidents').insert(row);
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new ConflictError(`machine ${machine.serial} already has an open incident for ${input.component}`, { details: { reason: 'already_open', component: input.component }, cause: err });
      }
      throw err;
    }
    if (customer && this.notifier) {
      const ids = await this.notifier.enqueue(trx, {
        event: 'incident.opened',
        subjectType: 'incident',
        subjectId: id,
        data: this.payload({ ...row, machine_serial: machine.serial }, customer),
        email: {
          to: customer.contactEmail,
          subject: `[${String(row.severity)}] Incident on your server ${customer.hostname}`,
          text: [
            `We detected a problem on your dedicated server ${customer.hostname}: ${String(row.title)}.`,
            `Severity: ${String(row.severity)}. Our team is on it${row.resolve_by ? `; your ${customer.supportTier.replace('_', ' ')} support commits to resolving it by ${toIso(row.resolve_by)}` : ''}.`,
            'We will write again when it is resolved. We never act on your data without your express request.',
          ].join('\n'),
        },
      });
      if (ids.length > 0) row.notified_at = now;
    }
    row.deadline_status = deadlines ? incidentDeadlineStatus(clocksOf(row), this.clock.now()) : null;
    await trx('incidents').where({ id }).update({ notified_at: row.notified_at, deadline_status: row.deadline_status });
    await writeAudit(trx, actor, { action: 'incident.open', targetType: 'incident', targetId: id, after: { machine: machine.serial, component: input.component, severity: input.severity, customer: customer?.customerId ?? null } }, now);
    this.deps.logger?.warn({ incident: id, machine: machine.serial, component: input.component, severity: input.severity }, 'incident opened');
    return mapIncident({ ...row, machine_serial: machine.serial });
  }

  private payload(row: Record<string, unknown>, customer: NonNullable<MachineContext['customer']>): Record<string, unknown> {
    return {
      incident_id: row.id,
      order_id: customer.orderId,
      external_order_id: customer.externalId,
      customer_id: customer.customerId,
      contact_email: customer.contactEmail,
      hostname: customer.hostname,
      machine_serial: row.machine_serial,
      support_tier: customer.supportTier,
      severity: row.severity,
      status: row.status,
      title: row.title,
      component: row.component,
      opened_at: toIso(row.opened_at),
      process_by: toIso(row.process_by),
      resolve_by: toIso(row.resolve_by),
    };
  }

  // ------------------------------------------------------------------ sweep bookkeeping

  /**
   * After a sweep of one machine: counts healthy sweeps for each open auto incident and resolves
   * those that reached `required` consecutive healthy sweeps. `statusOf(component)` is the
   * component's status in this sweep, `absent` when the BMC no longer reports it, or undefined
   * when it could not be checked. Returns the ids resolved.
   */
  async countHealthySweeps(trx: Knex.Transaction, machineId: string, statusOf: (component: string) => ComponentStatus | 'absent' | undefined, required: number): Promise<string[]> {
    const open = await trx('incidents').where({ machine_id: machineId, source: 'auto' }).whereNot('status', 'resolved');
    const resolved: string[] = [];
    for (const row of open) {
      const status = statusOf(String(row.component)) ?? 'unknown';
      const next = nextHealthySweeps(Number(row.healthy_sweeps), status);
      if (shouldAutoResolve(next, required)) {
        await this.resolveRow(trx, row, `healthy in ${next} consecutive sweeps`, SWEEPER);
        resolved.push(String(row.id));
      } else if (next !== Number(row.healthy_sweeps)) {
        await trx('incidents').where({ id: row.id }).update({ healthy_sweeps: next, updated_at: this.now() });
      }
    }
    return resolved;
  }

  // ------------------------------------------------------------------ reading

  async get(id: string): Promise<IncidentDetail> {
    const row = await this.knex('incidents as i').join('machines as m', 'm.id', 'i.machine_id').select('i.*', 'm.serial as machine_serial').where('i.id', id).first();
    if (!row) throw new NotFoundError(`incident ${id} not found`);
    const [notes, interventions] = await Promise.all([
      this.knex('incident_notes').where({ incident_id: id }).orderBy('id'),
      this.knex('incident_interventions').where({ incident_id: id }).orderBy('id'),
    ]);
    const list = interventions.map((r: Record<string, unknown>) => ({ minutes: Number(r.minutes), by: String(r.by), at: toIso(r.at)!, note: (r.note as string | null) ?? null }));
    return {
      ...mapIncident(row),
      notes: notes.map((r: Record<string, unknown>) => ({ at: toIso(r.at)!, author: String(r.author), text: String(r.text) })),
      interventions: list,
      intervention_minutes: list.reduce((s, i) => s + i.minutes, 0),
    };
  }

  async list(filter: IncidentFilter = {}): Promise<IncidentRecord[]> {
    const q = this.knex('incidents as i').join('machines as m', 'm.id', 'i.machine_id').select('i.*', 'm.serial as machine_serial').orderBy('i.opened_at', 'desc').limit(Math.min(filter.limit ?? 100, 1000));
    if (filter.status === 'unresolved') q.whereNot('i.status', 'resolved');
    else if (filter.status) q.where('i.status', filter.status);
    if (filter.severity) q.where('i.severity', filter.severity);
    if (filter.deadline_status) q.where('i.deadline_status', filter.deadline_status);
    if (filter.machine) q.where((w) => w.where('m.id', filter.machine!).orWhere('m.serial', filter.machine!));
    if (filter.customer) q.where('i.customer_id', filter.customer);
    return (await q).map(mapIncident);
  }

  // ------------------------------------------------------------------ technician actions

  async acknowledge(id: string, actor: Actor, note?: string | null): Promise<IncidentDetail> {
    await this.knex.transaction(async (trx) => {
      const row = await this.lockedRow(trx, id);
      if (row.status === 'resolved') throw new ConflictError(`incident ${id} is already resolved`, { details: { status: row.status } });
      if (row.status === 'open') {
        const now = this.now();
        const updated = { ...row, status: 'acknowledged', acknowledged_at: now };
        const deadline = row.notify_by || row.process_by || row.resolve_by ? incidentDeadlineStatus(clocksOf(updated), this.clock.now()) : null;
        await trx('incidents').where({ id, status: 'open' }).update({ status: 'acknowledged', acknowledged_at: now, deadline_status: deadline, updated_at: now });
        await writeAudit(trx, actor, { action: 'incident.acknowledge', targetType: 'incident', targetId: id, before: { status: row.status }, after: { status: 'acknowledged' } }, now);
      }
      if (note?.trim()) await this.insertNote(trx, id, note, actor);
    });
    return this.get(id);
  }

  async addNote(id: string, text: string, actor: Actor): Promise<IncidentDetail> {
    if (!text.trim()) throw new InputError('note text is empty', { details: [{ field: 'text', message: 'required' }] });
    await this.knex.transaction(async (trx) => {
      await this.lockedRow(trx, id);
      await this.insertNote(trx, id, text, actor);
    });
    return this.get(id);
  }

  private async insertNote(trx: Knex.Transaction, id: string, text: string, actor: Actor): Promise<void> {
    const now = this.now();
    await trx('incident_notes').insert({ incident_id: id, at: now, author: actor.name, text: text.trim() });
    await writeAudit(trx, actor, { action: 'incident.note', targetType: 'incident', targetId: id, after: { text: text.trim().slice(0, 200) } }, now);
  }

  /** Support intervention time on this incident (counted against the customer's monthly allowance). */
  async logIntervention(id: string, input: { minutes: number; note?: string | null; at?: string | null }, actor: Actor): Promise<IncidentDetail> {
    if (!Number.isInteger(input.minutes) || input.minutes < 1 || input.minutes > 24 * 60) {
      throw new InputError(`intervention minutes must be an integer in 1..1440 (got ${input.minutes})`, { details: [{ field: 'minutes', message: 'integer 1..1440' }] });
    }
    const at = input.at ? new Date(input.at).toISOString() : this.now();
    await this.knex.transaction(async (trx) => {
      await this.lockedRow(trx, id);
      await trx('incident_interventions').insert({ incident_id: id, minutes: input.minutes, by: actor.name, at, note: input.note ?? null });
      await writeAudit(trx, actor, { action: 'incident.intervention', targetType: 'incident', targetId: id, after: { minutes: input.minutes, at } }, this.now());
    });
    return this.get(id);
  }

  async resolve(id: string, reason: string, actor: Actor): Promise<IncidentDetail> {
    if (!reason.trim()) throw new InputError('a resolution reason is required', { details: [{ field: 'reason', message: 'required' }] });
    await this.knex.transaction(async (trx) => {
      const row = await this.lockedRow(trx, id);
      if (row.status === 'resolved') throw new ConflictError(`incident ${id} is already resolved`, { details: { status: row.status } });
      await this.resolveRow(trx, row, reason.trim(), actor);
    });
    return this.get(id);
  }

  private async resolveRow(trx: Knex.Transaction, row: Record<string, unknown>, reason: string, actor: Actor): Promise<void> {
    const now = this.now();
    const id = String(row.id);
    const updated = { ...row, status: 'resolved', resolved_at: now };
    const deadline = row.notify_by || row.process_by || row.resolve_by ? incidentDeadlineStatus(clocksOf(updated), this.clock.now()) : null;
    const n = await trx('incidents')
      .where({ id })
      .whereNot('status', 'resolved')
      .update({ status: 'resolved', resolved_at: now, resolved_reason: reason, resolved_by: actor.name, deadline_status: deadline, updated_at: now });
    if (n !== 1) return;
    await writeAudit(trx, actor, { action: 'incident.resolve', targetType: 'incident', targetId: id, before: { status: row.status }, after: { status: 'resolved' }, reason }, now);
    if (row.customer_id && this.notifier) {
      await this.notifier.enqueue(trx, {
        event: 'incident.resolved',
        subjectType: 'incident',
        subjectId: id,
        data: { incident_id: id, order_id: row.order_id, customer_id: row.customer_id, component: row.component, resolved_at: now, reason, deadline_status: deadline },
      });
    }
  }

  private async lockedRow(trx: Knex.Transaction, id: string): Promise<Record<string, unknown>> {
    const row = await trx('incidents').where({ id }).first();
    if (!row) throw new NotFoundError(`incident ${id} not found`);
    return row as Record<string, unknown>;
  }

  // ------------------------------------------------------------------ clocks and reports

  /**
   * Recomputes the deadline status of every unresolved incident with a customer clock; each change
   * is stored and published (`incident.deadline_status_changed`). Returns how many changed.
   */
  async refreshDeadlines(): Promise<number> {
    const now = this.clock.now();
    const rows = await this.knex('incidents').whereNot('status', 'resolved').whereNotNull('notify_by');
    let changed = 0;
    for (const row of rows as Record<string, unknown>[]) {
      const status = incidentDeadlineStatus(clocksOf(row), now);
      if (status === (row.deadline_status ?? null)) continue;
      await this.knex.transaction(async (trx) => {
        // Guarded by the old value: two ticks in two processes publish one event, not two.
        const n = await trx('incidents').where({ id: row.id, deadline_status: row.deadline_status ?? null }).update({ deadline_status: status, updated_at: now.toISOString() });
        if (n !== 1) return;
        changed++;
        if (row.customer_id && this.notifier) {
          await this.notifier.enqueue(trx, {
            event: 'incident.deadline_status_changed',
            subjectType: 'incident',
            subjectId: String(row.id),
            data: { incident_id: row.id, order_id: row.order_id, customer_id: row.customer_id, from: row.deadline_status ?? null, to: status, process_by: toIso(row.process_by), resolve_by: toIso(row.resolve_by) },
          });
        }
      });
    }
    return changed;
  }

  /**
   * Support intervention time per customer (and tier) in one calendar month (UTC), against the
   * tier's monthly allowance (managed 2 h, fully managed 5 h).
   */
  async interventionReport(month: string): Promise<{ month: string; customers: InterventionReportRow[] }> {
    const range = monthRange(month);
    if (!range) throw new InputError(`month must be YYYY-MM (got '${month}')`, { details: [{ field: 'month', message: 'YYYY-MM' }] });
    const rows = await this.knex('incident_interventions as v')
      .join('incidents as i', 'i.id', 'v.incident_id')
      .whereNotNull('i.customer_id')
      .where('v.at', '>=', range.start)
      .where('v.at', '<', range.end)
      .groupBy('i.customer_id', 'i.support_tier')
      .select('i.customer_id', 'i.support_tier')
      .sum({ minutes: 'v.minutes' })
      .countDistinct({ incidents: 'i.id' })
      .orderBy('i.customer_id');
    return {
      month,
      customers: rows.map((r: Record<string, unknown>) => {
        const tier = String(r.support_tier) as SupportTier;
        const minutes = toCount(r.minutes);
        const allowance = Math.round(monthlyAllowanceMs(tier) / 60_000);
        return {
          customer_id: String(r.customer_id),
          support_tier: tier,
          incidents: toCount(r.incidents),
          intervention_minutes: minutes,
          allowance_minutes: allowance,
          over_allowance_minutes: Math.max(0, minutes - allowance),
        };
      }),
    };
  }
}

function clocksOf(r: Record<string, unknown>): Parameters<typeof incidentDeadlineStatus>[0] {
  return {
    openedAt: toIso(r.opened_at)!,
    notifyBy: toIso(r.notify_by),
    processBy: toIso(r.process_by),
    resolveBy: toIso(r.resolve_by),
    notifiedAt: toIso(r.notified_at),
    acknowledgedAt: toIso(r.acknowledged_at),
    resolvedAt: toIso(r.resolved_at),
  };
}

export function mapIncident(r: Record<string, unknown>): IncidentRecord {
  return {
    id: String(r.id),
    machine_id: String(r.machine_id),
    machine_serial: String(r.machine_serial ?? ''),
    component: String(r.component),
    order_id: (r.order_id as string | null) ?? null,
    customer_id: (r.customer_id as string | null) ?? null,
    support_tier: (r.support_tier as SupportTier | null) ?? null,
    severity: r.severity as IncidentSeverity,
    status: r.status as IncidentStatus,
    source: r.source as 'auto' | 'technician',
    title: String(r.title),
    message: (r.message as string | null) ?? null,
    opened_at: toIso(r.opened_at)!,
    acknowledged_at: toIso(r.acknowledged_at),
    resolved_at: toIso(r.resolved_at),
    notify_by: toIso(r.notify_by),
    process_by: toIso(r.process_by),
    resolve_by: toIso(r.resolve_by),
    notified_at: toIso(r.notified_at),
    deadline_status: (r.deadline_status as DeadlineStatus | null) ?? null,
    healthy_sweeps: Number(r.healthy_sweeps ?? 0),
    resolved_reason: (r.resolved_reason as string | null) ?? null,
    opened_by: String(r.opened_by),
    resolved_by: (r.resolved_by as string | null) ?? null,
  };
}
