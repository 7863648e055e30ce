import type { Knex } from 'knex';
import { writeAudit, type Actor } from '../db/repositories/audit.js';

/** Health values that keep a machine out of allocation (ARCHITECTURE: broken machines are not sold). */
export const UNALLOCATABLE_HEALTH = ['degraded', 'failed'] as const;

export interface AllocationRequest {
  orderId: string;
  hardwareProfile: string;
  /** Data residency: only sites in this country qualify. */
  country: string;
  /** When set, only this site qualifies (it must also be in `country`). */
  siteCode?: string | null;
}

const ALLOCATOR: Actor = { name: 'system:allocator' };

/** Machines (joined with their site) that may be given to an order now: the one definition of "allocatable". */
function allocatableMachines(db: Knex | Knex.Transaction) {
  return db('machines')
    .join('sites', 'sites.id', 'machines.site_id')
    .where('machines.provision_state', 'available')
    .andWhere('machines.maintenance', false)
    .whereNotIn('machines.health', UNALLOCATABLE_HEALTH)
    .whereNull('machines.order_id');
}

/** Free machines of one kind of order (hardware profile and country), and the sites they are at. */
export interface FreeKind {
  hardwareProfile: string;
  country: string;
  sites: string[];
  machines: number;
}

/** One query: the allocatable machines, by kind and site (a hint; allocate decides). */
export async function freeCapacity(db: Knex): Promise<FreeKind[]> {
  const rows = (await allocatableMachines(db)
    .groupBy('machines.hardware_profile', 'sites.country', 'sites.code')
    .select({ hardware_profile: 'machines.hardware_profile', country: 'sites.country', site_code: 'sites.code' })
    .count({ n: '*' })) as { hardware_profile: string; country: string; site_code: string; n: number | string }[];
  const kinds = new Map<string, FreeKind>();
  for (const r of rows) {
    const key = JSON.stringify([r.hardware_profile, r.country]);
    const kind = kinds.get(key) ?? { hardwareProfile: String(r.hardware_profile), country: String(r.country), sites: [], machines: 0 };
    kind.sites.push(String(r.site_code));
    kind.machines += Number(r.n);
    kinds.set(key, kind);
  }
  return [...kinds.values()];
}

/** Machines that could serve the request right now, in a stable order. */
function candidates(db: Knex | Knex.Transaction, req: AllocationRequest, limit: number) {
  const q = allocatableMachines(db)
    .andWhere('machines.hardware_profile', req.hardwareProfile)
    .andWhere('sites.country', req.country)
    .orderBy('machines.id')
    .limit(limit)
    .pluck('machines.id');
  if (req.siteCode) q.andWhere('sites.code', req.siteCode);
  return q;
}

/**
 * Takes one matching machine for the order, atomically: the machine moves available → allocated by a
 * conditional UPDATE, so two allocators (threads or processes, SQLite or PostgreSQL) can never take the
 * same machine, and the order moves received → allocated in the same transaction, so an order never
 * takes two machines. Returns the machine id, or null when nothing matches (the order waits).
 */
export async function allocateMachine(knex: Knex, req: AllocationRequest, now: string): Promise<string | null> {
  return (await allocate(knex, req, now)).machineId;
}

/** What an allocation attempt came to: a machine, no machine free, or an order no longer waiting. */
export type AllocationOutcome = { machineId: string } | { machineId: null; reason: 'no_machine' | 'order_gone' };

/** allocateMachine, telling "nothing free" apart from "the order was served or cancelled meanwhile". */
export async function allocate(knex: Knex, req: AllocationRequest, now: string): Promise<AllocationOutcome> {
  for (let round = 0; round < 5; round++) {
    // A wide window: allocators running at once (API requests, workers) pick different machines.
    const ids = (await candidates(knex, req, 128)) as string[];
    if (ids.length === 0) return { machineId: null, reason: 'no_machine' };
    // Start at a random candidate so concurrent allocators mostly try different machines.
    const start = Math.floor(Math.random() * ids.length);
    for (let i = 0; i < ids.length; i++) {
      const machineId = ids[(start + i) % ids.length]!;
      const outcome = await knex.transaction(async (trx) => {
        const taken = await trx('machines')
          .where({ id: machineId, provision_state: 'available', maintenance: false })
          .whereNotIn('health', UNALLOCATABLE_HEALTH)
          .whereNull('order_id')
          .update({ provision_state: 'allocated', order_id: req.orderId, updated_at: now });
        if (taken !== 1) return 'machine_taken' as const;
        const claimed = await trx('orders')
          .where({ id: req.orderId, status: 'received' })
          .whereNull('machine_id')
          .update({ status: 'allocated', machine_id: machineId, allocated_at: now, updated_at: now });
        if (claimed !== 1) throw new OrderNoLongerWaiting();
        await writeAudit(trx, ALLOCATOR, {
          action: 'machine.allocate',
          targetType: 'machine',
          targetId: machineId,
          before: { provision_state: 'available' },
          after: { provision_state: 'allocated', order_id: req.orderId },
        }, now);
        return 'allocated' as const;
      }).catch((err) => {
        if (err instanceof OrderNoLongerWaiting) return 'order_gone' as const;
        throw err;
      });
      if (outcome === 'allocated') return { machineId };
      if (outcome === 'order_gone') return { machineId: null, reason: 'order_gone' };
    }
  }
  // Every candidate was taken by other allocators, five times over: as good as none free.
  return { machineId: null, reason: 'no_machine' };
}

/** Rolls back an allocation transaction when another allocator already served (or cancelled) the order. */
class OrderNoLongerWaiting extends Error {}
