import type { Knex } from 'knex';
import type { ComponentStatus } from '../bmc/driver.js';
import { toBool, toIso } from '../db/sql.js';
import { NotFoundError } from '../errors.js';
import type { MachineHealth } from './rules.js';

/** A machine's current health: its components as of the last sweep, and recent history. */
export interface MachineHealthView {
  machine_id: string;
  serial: string;
  health: MachineHealth;
  power_state: string;
  maintenance: boolean;
  last_checked_at: string | null;
  last_sweep_id: string | null;
  components: {
    component: string;
    kind: string;
    status: ComponentStatus;
    reading: { value: number; unit: string } | null;
    message: string;
    consecutive_ok: number;
    last_seen_at: string;
    changed_at: string;
  }[];
  history: { sweep_id: string | null; component: string; kind: string; status: string; reading: { value: number; unit: string } | null; message: string; at: string }[];
}

const reading = (r: Record<string, unknown>): { value: number; unit: string } | null =>
  r.reading_value === null || r.reading_value === undefined ? null : { value: Number(r.reading_value), unit: String(r.reading_unit ?? '') };

const STATUS_ORDER: Record<string, number> = { critical: 0, warning: 1, unknown: 2, ok: 3 };

export async function getMachineHealth(knex: Knex, idOrSerial: string, historyLimit = 100): Promise<MachineHealthView> {
  const m = await knex('machines').where('id', idOrSerial).orWhere('serial', idOrSerial).first('id', 'serial', 'health', 'power_state', 'maintenance');
  if (!m) throw new NotFoundError(`machine ${idOrSerial} not found`);
  const [components, history, state] = await Promise.all([
    knex('machine_components').where({ machine_id: m.id }),
    historyLimit > 0 ? knex('health_results').where({ machine_id: m.id }).orderBy('id', 'desc').limit(historyLimit) : Promise.resolve([]),
    knex('machine_health').where({ machine_id: m.id }).first(),
  ]);
  return {
    machine_id: String(m.id),
    serial: String(m.serial),
    health: String(m.health) as MachineHealth,
    power_state: String(m.power_state),
    maintenance: toBool(m.maintenance),
    last_checked_at: toIso(state?.last_checked_at),
    last_sweep_id: (state?.last_sweep_id as string | null) ?? null,
    // Worst first, so the reason for the machine's health is on top.
    components: (components as Record<string, unknown>[])
      .map((r) => ({
        component: String(r.component),
        kind: String(r.kind),
        status: r.status as ComponentStatus,
        reading: reading(r),
        message: String(r.message),
        consecutive_ok: Number(r.consecutive_ok),
        last_seen_at: toIso(r.last_seen_at)!,
        changed_at: toIso(r.changed_at)!,
      }))
      .sort((a, b) => (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9) || a.component.localeCompare(b.component)),
    history: (history as Record<string, unknown>[]).map((r) => ({
      sweep_id: (r.sweep_id as string | null) ?? null,
      component: String(r.component),
      kind: String(r.kind),
      status: String(r.status),
      reading: reading(r),
      message: String(r.message),
      at: toIso(r.at)!,
    })),
  };
}
