import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { systemClock, type Clock } from '../clock.js';
import { writeAudit, type Actor } from '../db/repositories/audit.js';
import { toBool, toCount, toIso } from '../db/sql.js';
import { InputError, NotFoundError } from '../errors.js';
import type { Notifier } from '../notifications/outbox.js';
import { mapMachineContext, type MachineContext } from './machine-context.js';
import { windowCovers, type MachinePlace, type MaintenanceWindowScope } from './rules.js';

/**
 * Planned interruptions: a technician announces maintenance on a machine, a rack or a site for a
 * window; every customer whose delivered server is affected is notified in advance
 * (`maintenance.announced`), and sweeps open no incidents for covered machines while it lasts.
 */

export interface MaintenanceWindowRecord {
  id: string;
  scope: 'machine' | 'rack' | 'site';
  target_id: string;
  target_name: string;
  starts_at: string;
  ends_at: string;
  reason: string;
  notified: boolean;
  notified_customers: number;
  created_by: string;
  created_at: string;
  cancelled_at: string | null;
}

export interface MaintenanceAnnouncement {
  scope: 'machine' | 'rack' | 'site';
  /** Machine id or serial, rack id or `SITE/rack-name`, site code or id. */
  target: string;
  starts_at: string;
  ends_at: string;
  reason: string;
}

export class MaintenanceService {
  private readonly clock: Clock;
  constructor(private readonly deps: { knex: Knex; clock?: Clock; notifier?: Notifier | null }) {
    this.clock = deps.clock ?? systemClock;
  }

  async announce(input: MaintenanceAnnouncement, actor: Actor): Promise<MaintenanceWindowRecord> {
    const startsMs = Date.parse(input.starts_at);
    const endsMs = Date.parse(input.ends_at);
    if (Number.isNaN(startsMs) || Number.isNaN(endsMs)) throw new InputError('starts_at and ends_at must be ISO 8601 times', { details: [{ field: 'starts_at', message: 'ISO 8601' }] });
    if (endsMs <= startsMs) throw new InputError(`maintenance window ends (${input.ends_at}) before it starts (${input.starts_at})`, { details: [{ field: 'ends_at', message: 'must be after starts_at' }] });
    if (endsMs <= this.clock.now().getTime()) throw new InputError(`maintenance window already ended at ${input.ends_at}`, { details: [{ field: 'ends_at', message: 'in the past' }] });
    const { knex } = this.deps;
    const id = randomUUID();
    await knex.transaction(async (trx) => {
      const target = await this.resolveTarget(trx, input.scope, input.target);
      const now = this.clock.now().toISOString();
      const startsAt = new Date(startsMs).toISOString();
      const endsAt = new Date(endsMs).toISOString();
      const affected = await this.affectedCustomers(trx, input.scope, target.id);
      let notified = 0;
      if (this.deps.notifier) {
        for (const m of affected) {
          const ids = await this.deps.notifier.enqueue(trx, {
            event: 'maintenance.announced',
            subjectType: 'order',
            subjectId: m.customer!.orderId,
            data: {
              maintenance_window_id: id,
              order_id: m.customer!.orderId,
              external_order_id: m.customer!.externalId,
              customer_id: m.customer!.customerId,
              contact_email: m.customer!.contactEmail,
              hostname: m.customer!.hostname,
              starts_at: startsAt,
              ends_at: endsAt,
              reason: input.reason,
            },
          });
          if (ids.length > 0) notified++;
        }
      }
      await trx('maintenance_windows').insert({
        id,
        scope: input.scope,
        target_id: target.id,
        target_name: target.name,
        starts_at: startsAt,
        ends_at: endsAt,
        reason: input.reason,
        notified: affected.length === 0 || notified === affected.length,
        notified_customers: notified,
        created_by: actor.name,
        created_at: now,
      });
      await writeAudit(trx, actor, { action: 'maintenance.announce', targetType: input.scope, targetId: target.id, after: { window: id, starts_at: startsAt, ends_at: endsAt, customers: affected.length }, reason: input.reason }, now);
    });
    return this.get(id);
  }

  async get(id: string): Promise<MaintenanceWindowRecord> {
    const row = await this.deps.knex('maintenance_windows').where({ id }).first();
    if (!row) throw new NotFoundError(`maintenance window ${id} not found`);
    return mapWindow(row);
  }

  /** Windows that have not ended (or all, with `includePast`), soonest first. */
  async list(opts: { includePast?: boolean } = {}): Promise<MaintenanceWindowRecord[]> {
    const q = this.deps.knex('maintenance_windows').orderBy('starts_at').limit(1000);
    if (!opts.includePast) q.where('ends_at', '>', this.clock.now().toISOString()).whereNull('cancelled_at');
    return (await q).map(mapWindow);
  }

  private async resolveTarget(trx: Knex.Transaction, scope: MaintenanceAnnouncement['scope'], target: string): Promise<{ id: string; name: string }> {
    if (scope === 'machine') {
      const m = await trx('machines').where('id', target).orWhere('serial', target).first('id', 'serial');
      if (!m) throw new NotFoundError(`machine ${target} not found`);
      return { id: String(m.id), name: String(m.serial) };
    }
    if (scope === 'rack') {
      let rack = await trx('racks').where('id', target).first('id', 'name');
      if (!rack && target.includes('/')) {
        const [site, name] = target.split('/', 2);
        rack = await trx('racks as r').join('sites as s', 's.id', 'r.site_id').where({ 's.code': site, 'r.name': name }).first('r.id', 'r.name');
      }
      if (!rack) throw new NotFoundError(`rack ${target} not found (give its id or SITE/rack-name)`);
      return { id: String(rack.id), name: target.includes('/') ? target : String(rack.name) };
    }
    if (scope === 'site') {
      const site = await trx('sites').where('code', target).orWhere('id', target).first('id', 'code');
      if (!site) throw new NotFoundError(`site ${target} not found`);
      return { id: String(site.id), name: String(site.code) };
    }
    throw new InputError(`maintenance scope must be machine, rack or site (got '${String(scope)}')`);
  }

  private async affectedCustomers(trx: Knex.Transaction, scope: MaintenanceAnnouncement['scope'], targetId: string): Promise<MachineContext[]> {
    const column = scope === 'machine' ? 'm.id' : scope === 'rack' ? 'm.rack_id' : 'm.site_id';
    const rows = await trx('machines as m')
      .join('sites as s', 's.id', 'm.site_id')
      .join('orders as o', 'o.id', 'm.order_id')
      .where(column, targetId)
      .where('o.status', 'delivered')
      .select(
        'm.id', 'm.serial', 'm.site_id', 's.code as site_code', 'm.rack_id', 'm.provision_state', 'm.maintenance', 'm.health',
        'o.id as o_id', 'o.external_id as o_external_id', 'o.status as o_status', 'o.customer_id as o_customer_id',
        'o.support_tier as o_support_tier', 'o.contact_email as o_contact_email', 'o.hostname as o_hostname',
      );
    return (rows as Record<string, unknown>[]).map(mapMachineContext);
  }
}

/** Windows in force at `at` (cheap: only not-ended, not-cancelled rows are read). */
export async function activeWindows(db: Knex | Knex.Transaction, at: Date): Promise<MaintenanceWindowScope[]> {
  const iso = at.toISOString();
  const rows = await db('maintenance_windows').where('starts_at', '<=', iso).where('ends_at', '>', iso).whereNull('cancelled_at');
  return rows.map((r: Record<string, unknown>) => ({ scope: r.scope as MaintenanceWindowScope['scope'], targetId: String(r.target_id), startsAt: toIso(r.starts_at)!, endsAt: toIso(r.ends_at)!, cancelledAt: null }));
}

/** Whether the machine is excluded from incidents now: its maintenance flag or a window covering it. */
export function isUnderMaintenance(machine: MachinePlace & { maintenance: boolean }, windows: readonly MaintenanceWindowScope[], at: Date): boolean {
  return machine.maintenance || windows.some((w) => windowCovers(w, machine, at));
}

function mapWindow(r: Record<string, unknown>): MaintenanceWindowRecord {
  return {
    id: String(r.id),
    scope: r.scope as MaintenanceWindowRecord['scope'],
    target_id: String(r.target_id),
    target_name: String(r.target_name),
    starts_at: toIso(r.starts_at)!,
    ends_at: toIso(r.ends_at)!,
    reason: String(r.reason),
    notified: toBool(r.notified),
    notified_customers: toCount(r.notified_customers),
    created_by: String(r.created_by),
    created_at: toIso(r.created_at)!,
    cancelled_at: toIso(r.cancelled_at),
  };
}
