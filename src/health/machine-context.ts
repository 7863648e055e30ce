import type { Knex } from 'knex';
import { NotFoundError } from '../errors.js';
import { toBool } from '../db/sql.js';
import type { SupportTier } from './tier-deadlines.js';

/**
 * What health code needs to know about a machine: where it is (for maintenance windows), whether
 * it serves a customer (an order in status `delivered` — then incidents carry the tier's clocks
 * and the customer is notified) and what power state that implies.
 */
export interface MachineContext {
  id: string;
  serial: string;
  siteId: string;
  siteCode: string;
  rackId: string | null;
  provisionState: string;
  maintenance: boolean;
  health: string;
  /** Set when the machine serves a customer (its order is delivered). */
  customer: { orderId: string; externalId: string; customerId: string; supportTier: SupportTier; contactEmail: string; hostname: string } | null;
}

const COLUMNS = [
  'm.id',
  'm.serial',
  'm.site_id',
  's.code as site_code',
  'm.rack_id',
  'm.provision_state',
  'm.maintenance',
  'm.health',
  'o.id as o_id',
  'o.external_id as o_external_id',
  'o.status as o_status',
  'o.customer_id as o_customer_id',
  'o.support_tier as o_support_tier',
  'o.contact_email as o_contact_email',
  'o.hostname as o_hostname',
];

function baseQuery(db: Knex | Knex.Transaction): Knex.QueryBuilder {
  return db('machines as m').join('sites as s', 's.id', 'm.site_id').leftJoin('orders as o', 'o.id', 'm.order_id').select(COLUMNS);
}

export function mapMachineContext(r: Record<string, unknown>): MachineContext {
  const serving = r.o_id !== null && r.o_id !== undefined && r.o_status === 'delivered';
  return {
    id: String(r.id),
    serial: String(r.serial),
    siteId: String(r.site_id),
    siteCode: String(r.site_code),
    rackId: (r.rack_id as string | null) ?? null,
    provisionState: String(r.provision_state),
    maintenance: toBool(r.maintenance),
    health: String(r.health),
    customer: serving
      ? {
          orderId: String(r.o_id),
          externalId: String(r.o_external_id),
          customerId: String(r.o_customer_id),
          supportTier: String(r.o_support_tier) as SupportTier,
          contactEmail: String(r.o_contact_email),
          hostname: String(r.o_hostname),
        }
      : null,
  };
}

/** By id or serial; NotFoundError naming what was asked for. */
export async function loadMachineContext(db: Knex | Knex.Transaction, idOrSerial: string): Promise<MachineContext> {
  const row = await baseQuery(db).where('m.id', idOrSerial).orWhere('m.serial', idOrSerial).first();
  if (!row) throw new NotFoundError(`machine ${idOrSerial} not found`);
  return mapMachineContext(row as Record<string, unknown>);
}

/** Machines a sweep checks: every machine with a BMC record, optionally in one site, retired ones excluded. */
export async function listSweepTargets(db: Knex, filter: { siteCode?: string | null; machineId?: string | null }): Promise<MachineContext[]> {
  const q = baseQuery(db).join('machine_bmcs as b', 'b.machine_id', 'm.id').whereNot('m.provision_state', 'retired').orderBy('m.serial');
  if (filter.siteCode) q.where('s.code', filter.siteCode);
  if (filter.machineId) q.where((w) => w.where('m.id', filter.machineId!).orWhere('m.serial', filter.machineId!));
  return ((await q) as Record<string, unknown>[]).map(mapMachineContext);
}
