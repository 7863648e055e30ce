import type { Knex } from 'knex';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { ConflictError, NotFoundError, isAnvilError } from '../errors.js';
import { writeAudit, type Actor } from '../db/repositories/audit.js';
import { toIso } from '../db/sql.js';
import type { BmcDriver, BmcEndpoint, BootDeviceRequest, PowerAction, PowerState } from '../bmc/driver.js';
import type { InventoryService } from '../inventory/service.js';
import type { MachineOutput } from '../inventory/schemas.js';
import type { BmcRegistry } from '../bmc/registry.js';
import { validateInput } from '../inventory/validate.js';
import { assertTransition, CUSTOMER_STATES, type ProvisionState } from './machine-states.js';
import type { MachineBmcs } from './ports.js';

export const PowerRequest = z
  .object({
    action: z.enum(['on', 'off', 'soft-off', 'cycle', 'reset']),
    /** Required for a machine that serves a customer: why the customer's server is touched. */
    reason: z.string().trim().min(3).max(1000).optional(),
  })
  .strict();

export const BootDeviceBody = z
  .object({ device: z.enum(['pxe', 'disk', 'bios']), persistent: z.boolean().default(false), mode: z.enum(['uefi', 'legacy']).default('uefi') })
  .strict();

export interface MachineOperationsDeps {
  knex: Knex;
  /** The machine's BMC endpoint (password decrypted) and where inspection facts are stored. */
  inventory: Pick<InventoryService, 'getBmcEndpoint' | 'recordHardwareFacts'>;
  registry: BmcRegistry;
  clock?: Clock;
}

/**
 * Technician operations on one machine through its BMC: power, boot device, inspection and
 * verification. Every action is audited; a machine that a workflow is driving is refused (409),
 * and a customer's server needs a reason (and a suspended one cannot be powered on).
 */
export class MachineOperations implements MachineBmcs {
  private readonly clock: Clock;
  constructor(private readonly deps: MachineOperationsDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  async driverFor(machineId: string, memo?: Map<string, unknown>): Promise<BmcDriver> {
    const key = `bmc-endpoint:${machineId}`;
    let endpoint = memo?.get(key) as BmcEndpoint | undefined;
    if (!endpoint) {
      endpoint = await this.deps.inventory.getBmcEndpoint(machineId);
      memo?.set(key, endpoint);
    }
    return this.deps.registry.driverFor(endpoint);
  }

  async powerState(idOrSerial: string): Promise<{ power_state: PowerState; observed_at: string }> {
    const m = await this.machine(idOrSerial);
    const state = await (await this.driverFor(m.id)).powerState();
    const now = this.clock.now().toISOString();
    await this.deps.knex('machines').where({ id: m.id }).update({ power_state: state, power_state_at: now });
    return { power_state: state, observed_at: now };
  }

  async power(idOrSerial: string, body: unknown, actor: Actor): Promise<{ power_state: PowerState; observed_at: string }> {
    const req = validateInput(PowerRequest, body, 'power');
    const m = await this.machine(idOrSerial);
    await this.assertNotDriven(m.id);
    if (CUSTOMER_STATES.has(m.provision_state) && !req.reason) {
      throw new ConflictError(`machine ${m.serial} serves a customer (${m.provision_state}): give a reason to change its power`, { details: [{ field: 'reason', message: 'required for a machine serving a customer' }] });
    }
    if (req.action !== 'off' && req.action !== 'soft-off') {
      const suspended = await this.deps.knex('orders').where({ id: m.order_id ?? '', suspended: true }).first('id');
      if (suspended) throw new ConflictError(`machine ${m.serial} serves suspended order ${suspended.id}: restore the order before powering on`);
    }
    const driver = await this.driverFor(m.id);
    const before = m.power_state;
    await driver.setPower(req.action as PowerAction);
    const state = await driver.powerState();
    const now = this.clock.now().toISOString();
    await this.deps.knex.transaction(async (trx) => {
      await trx('machines').where({ id: m.id }).update({ power_state: state, power_state_at: now });
      await writeAudit(trx, actor, { action: `machine.power.${req.action}`, targetType: 'machine', targetId: m.id, before: { power_state: before }, after: { power_state: state }, reason: req.reason ?? null }, now);
    });
    return { power_state: state, observed_at: now };
  }

  async setBootDevice(idOrSerial: string, body: unknown, actor: Actor): Promise<BootDeviceRequest> {
    const req = validateInput(BootDeviceBody, body, 'boot device');
    const m = await this.machine(idOrSerial);
    await this.assertNotDriven(m.id);
    await (await this.driverFor(m.id)).setBootDevice(req);
    await writeAudit(this.deps.knex, actor, { action: 'machine.boot_device', targetType: 'machine', targetId: m.id, after: req }, this.clock.now().toISOString());
    return req;
  }

  /** Reads the hardware through the BMC, stores the facts, and flags NICs that disagree with inventory. */
  async inspect(idOrSerial: string, actor: Actor): Promise<MachineOutput> {
    const m = await this.machine(idOrSerial);
    const facts = await (await this.driverFor(m.id)).inspect();
    return this.deps.inventory.recordHardwareFacts(m.id, facts, actor);
  }

  /**
   * Enrollment check: the BMC answers and accepts the credentials → `available`. Otherwise the
   * machine stays `enrolled` with the reason in last_error.
   */
  async verify(idOrSerial: string, actor: Actor): Promise<{ provision_state: ProvisionState; last_error: string | null }> {
    const m = await this.machine(idOrSerial);
    if (m.provision_state !== 'enrolled' && m.provision_state !== 'failed' && m.provision_state !== 'verifying') {
      assertTransition(m.serial, m.provision_state, 'verifying');
    }
    const now = () => this.clock.now().toISOString();
    await this.deps.knex('machines').where({ id: m.id }).update({ provision_state: 'verifying', updated_at: now() });
    let error: string | null = null;
    let power: PowerState | null = null;
    try {
      const driver = await this.driverFor(m.id);
      await driver.verify();
      power = await driver.powerState();
    } catch (err) {
      error = isAnvilError(err) ? `${err.code}: ${err.message}` : (err as Error).message;
    }
    const to: ProvisionState = error ? 'enrolled' : 'available';
    await this.deps.knex.transaction(async (trx) => {
      await trx('machines').where({ id: m.id }).update({ provision_state: to, last_error: error, ...(power ? { power_state: power, power_state_at: now() } : {}), updated_at: now() });
      await writeAudit(trx, actor, { action: 'machine.verify', targetType: 'machine', targetId: m.id, before: { provision_state: m.provision_state }, after: { provision_state: to }, reason: error }, now());
    });
    return { provision_state: to, last_error: error };
  }

  /** Verifies every enrolled machine, a few at a time (each BMC is still one operation at a time). */
  async verifyAll(actor: Actor, concurrency = 16): Promise<{ id: string; serial: string; provision_state: ProvisionState; last_error: string | null }[]> {
    const rows = (await this.deps.knex('machines').where({ provision_state: 'enrolled' }).orderBy('serial').select('id', 'serial')) as { id: string; serial: string }[];
    const out: { id: string; serial: string; provision_state: ProvisionState; last_error: string | null }[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, async () => {
      while (next < rows.length) {
        const r = rows[next++]!;
        out.push({ id: r.id, serial: r.serial, ...(await this.verify(r.id, actor)) });
      }
    }));
    return out.sort((a, b) => a.serial.localeCompare(b.serial));
  }

  private async assertNotDriven(machineId: string): Promise<void> {
    const wf = await this.deps.knex('workflows').where({ machine_id: machineId }).whereIn('status', ['pending', 'running']).first('id', 'kind');
    if (wf) throw new ConflictError(`machine ${machineId} is being driven by ${wf.kind} workflow ${wf.id}; wait for it or cancel it`, { details: { workflow_id: wf.id } });
  }

  private async machine(idOrSerial: string): Promise<{ id: string; serial: string; provision_state: ProvisionState; power_state: string; order_id: string | null; updated_at: string | null }> {
    const row = await this.deps.knex('machines').where({ id: idOrSerial }).orWhere({ serial: idOrSerial }).first();
    if (!row) throw new NotFoundError(`machine ${idOrSerial} not found`);
    return { id: row.id, serial: row.serial, provision_state: row.provision_state, power_state: row.power_state, order_id: row.order_id ?? null, updated_at: toIso(row.updated_at) };
  }
}
