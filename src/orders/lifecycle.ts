import type { Knex } from 'knex';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { ConflictError, NotAllowedError, NotFoundError, UnprocessableError } from '../errors.js';
import { writeAudit, type Actor } from '../db/repositories/audit.js';
import { toIso } from '../db/sql.js';
import { validateInput } from '../inventory/validate.js';
import type { Notifier } from '../notifications/outbox.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { MachineBmcs } from '../provisioning/ports.js';
import { createWorkflow } from '../provisioning/workflows/engine.js';
import { checkOsImage } from './orders.js';

/**
 * Actions on a delivered server. The contract forbids acting on customer data without the
 * customer's express request: terminate (wipe) and reinstall require `customer_request_ref`
 * (the ticket or signed request in which the customer asked) and are refused with 422 without it.
 */
const CustomerRequestRef = z.string().trim().min(3).max(200);

export const TerminateRequest = z.object({ customer_request_ref: CustomerRequestRef, reason: z.string().max(1000).optional() }).strict();
export const ReinstallRequest = z
  .object({ customer_request_ref: CustomerRequestRef, os_image: z.string().min(1).max(64).optional(), reason: z.string().max(1000).optional() })
  .strict();
export const SuspendRequest = z.object({ reason: z.string().trim().min(3).max(1000) }).strict();
export const RestoreRequest = z.object({ reason: z.string().trim().max(1000).optional() }).strict();

export interface OrderLifecycleDeps {
  knex: Knex;
  bmcs: MachineBmcs;
  secrets: SecretBox;
  notifier?: Notifier | null;
  clock?: Clock;
  /** The boot catalog's OS images, when this process has the boot configuration (see OrderServiceDeps). */
  knownImages?: readonly string[] | null;
}

function requireRef(body: unknown): void {
  const ref = (body as { customer_request_ref?: unknown } | null)?.customer_request_ref;
  if (typeof ref !== 'string' || ref.trim().length === 0) {
    throw new UnprocessableError('customer_request_ref is required: this acts on customer data and needs the customer\'s express request', {
      details: [{ field: 'customer_request_ref', message: 'required: reference of the customer\'s express request' }],
    });
  }
}

export class OrderLifecycle {
  private readonly clock: Clock;
  constructor(private readonly deps: OrderLifecycleDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /** Ends the service: the machine is wiped (release workflow) and returns to `available`. */
  async terminate(orderId: string, body: unknown, actor: Actor): Promise<{ workflowId: string }> {
    requireRef(body);
    const req = validateInput(TerminateRequest, body, 'terminate');
    const now = this.clock.now().toISOString();
    return this.deps.knex.transaction(async (trx) => {
      const o = await this.order(trx, orderId);
      if (o.status !== 'delivered') throw new ConflictError(`order ${orderId} is ${o.status}: only a delivered order can be terminated (cancel an undelivered one)`, { details: { status: o.status } });
      const moved = await trx('machines').where({ id: o.machine_id, provision_state: 'active' }).update({ provision_state: 'releasing', updated_at: now });
      if (moved !== 1) throw new ConflictError(`machine ${o.machine_id} is not active; resolve its state before terminating`);
      await trx('orders').where({ id: orderId }).update({ status: 'terminated', suspended: false, updated_at: now });
      const workflowId = await createWorkflow(trx, { kind: 'release', machineId: String(o.machine_id), orderId }, now);
      await writeAudit(trx, actor, { action: 'order.terminate', targetType: 'order', targetId: orderId, before: { status: 'delivered' }, after: { status: 'terminated', workflow_id: workflowId, customer_request_ref: req.customer_request_ref }, reason: req.reason ?? `customer request ${req.customer_request_ref}` }, now);
      await this.deps.notifier?.enqueue(trx, { event: 'order.terminated', subjectType: 'order', subjectId: orderId, data: { order_id: orderId, external_id: o.external_id, customer_request_ref: req.customer_request_ref } });
      return { workflowId };
    });
  }

  /** Reinstalls the OS (destroys the data on the disks): new credentials are delivered afterwards. */
  async reinstall(orderId: string, body: unknown, actor: Actor): Promise<{ workflowId: string }> {
    requireRef(body);
    const req = validateInput(ReinstallRequest, body, 'reinstall');
    if (req.os_image) checkOsImage(req.os_image, this.deps.knownImages);
    const now = this.clock.now().toISOString();
    return this.deps.knex.transaction(async (trx) => {
      const o = await this.order(trx, orderId);
      if (o.status !== 'delivered') throw new ConflictError(`order ${orderId} is ${o.status}: only a delivered order can be reinstalled`);
      if (o.suspended === true || o.suspended === 1) throw new ConflictError(`order ${orderId} is suspended; restore it first`);
      const moved = await trx('machines').where({ id: o.machine_id, provision_state: 'active' }).update({ provision_state: 'deploying', updated_at: now });
      if (moved !== 1) throw new ConflictError(`machine ${o.machine_id} is not active`);
      // New credentials for the new system; the old ones are gone with the old disks.
      await trx('orders').where({ id: orderId }).update({ os_image: req.os_image ?? o.os_image, credentials_enc: null, credentials_acknowledged_at: null, updated_at: now });
      const workflowId = await createWorkflow(trx, { kind: 'deploy', machineId: String(o.machine_id), orderId, data: { reinstall: true } }, now);
      await writeAudit(trx, actor, { action: 'order.reinstall', targetType: 'order', targetId: orderId, after: { workflow_id: workflowId, os_image: req.os_image ?? o.os_image, customer_request_ref: req.customer_request_ref }, reason: req.reason ?? `customer request ${req.customer_request_ref}` }, now);
      return { workflowId };
    });
  }

  /** Security interruption: power the server off and refuse power-on until restored. */
  async suspend(orderId: string, body: unknown, actor: Actor): Promise<void> {
    const req = validateInput(SuspendRequest, body, 'suspend');
    const o = await this.order(this.deps.knex, orderId);
    if (o.status !== 'delivered') throw new ConflictError(`order ${orderId} is ${o.status}: only a delivered server can be suspended`);
    const now = this.clock.now().toISOString();
    // Flag first, so nothing powers it back on while the BMC call runs.
    await this.deps.knex.transaction(async (trx) => {
      await trx('orders').where({ id: orderId }).update({ suspended: true, suspended_reason: req.reason, updated_at: now });
      await writeAudit(trx, actor, { action: 'order.suspend', targetType: 'order', targetId: orderId, after: { suspended: true }, reason: req.reason }, now);
      await this.deps.notifier?.enqueue(trx, { event: 'order.suspended', subjectType: 'order', subjectId: orderId, data: { order_id: orderId, external_id: o.external_id, reason: req.reason } });
    });
    await (await this.deps.bmcs.driverFor(String(o.machine_id))).setPower('off');
  }

  async restore(orderId: string, body: unknown, actor: Actor): Promise<void> {
    const req = validateInput(RestoreRequest, body ?? {}, 'restore');
    const o = await this.order(this.deps.knex, orderId);
    if (!(o.suspended === true || o.suspended === 1)) throw new ConflictError(`order ${orderId} is not suspended`);
    const now = this.clock.now().toISOString();
    await this.deps.knex.transaction(async (trx) => {
      await trx('orders').where({ id: orderId }).update({ suspended: false, suspended_reason: null, updated_at: now });
      await writeAudit(trx, actor, { action: 'order.restore', targetType: 'order', targetId: orderId, after: { suspended: false }, reason: req.reason ?? null }, now);
      await this.deps.notifier?.enqueue(trx, { event: 'order.restored', subjectType: 'order', subjectId: orderId, data: { order_id: orderId, external_id: o.external_id } });
    });
    await (await this.deps.bmcs.driverFor(String(o.machine_id))).setPower('on');
  }

  /**
   * The delivered access, readable by the pipeline until it acknowledges delivery; afterwards no
   * response shows it again (the sealed copy is erased).
   */
  async credentials(orderId: string): Promise<Record<string, unknown>> {
    const o = await this.order(this.deps.knex, orderId);
    if (o.status !== 'delivered') throw new ConflictError(`order ${orderId} is ${o.status}: credentials exist once it is delivered`);
    if (o.credentials_acknowledged_at) throw new NotAllowedError(`order ${orderId}: delivery was acknowledged at ${toIso(o.credentials_acknowledged_at)}; credentials are no longer kept`);
    if (!o.credentials_enc) return { username: 'root', password: null, ssh_keys_only: true };
    return JSON.parse(this.deps.secrets.open(String(o.credentials_enc))) as Record<string, unknown>;
  }

  async acknowledgeDelivery(orderId: string, actor: Actor): Promise<void> {
    const now = this.clock.now().toISOString();
    await this.deps.knex.transaction(async (trx) => {
      const o = await this.order(trx, orderId);
      if (o.status !== 'delivered') throw new ConflictError(`order ${orderId} is ${o.status}: nothing to acknowledge`);
      if (o.credentials_acknowledged_at) return;
      await trx('orders').where({ id: orderId }).update({ credentials_enc: null, credentials_acknowledged_at: now, updated_at: now });
      await this.stripPendingPasswords(trx, orderId);
      await writeAudit(trx, actor, { action: 'order.acknowledge_delivery', targetType: 'order', targetId: orderId, after: { credentials_erased: true } }, now);
    });
  }

  /**
   * A delivery webhook still being retried carries the password the pipeline has just said it has:
   * its retries go on (the event still matters to the receiver) without it. The customer's e-mail
   * is theirs and is left alone.
   */
  private async stripPendingPasswords(trx: Knex.Transaction, orderId: string): Promise<void> {
    const pending = await trx('notifications')
      .where({ subject_type: 'order', subject_id: orderId, channel: 'webhook', status: 'pending' })
      .whereIn('event', ['order.delivered', 'order.reinstalled'])
      .select('id', 'payload');
    for (const n of pending as { id: string; payload: string }[]) {
      const body = JSON.parse(this.deps.secrets.open(n.payload)) as { data?: { credentials?: Record<string, unknown> } };
      const credentials = body.data?.credentials;
      if (!credentials || credentials.password === undefined) continue;
      delete credentials.password;
      credentials.acknowledged = true;
      await trx('notifications').where({ id: n.id, status: 'pending' }).update({ payload: this.deps.secrets.seal(JSON.stringify(body)) });
    }
  }

  /** Whether a machine may be powered on (a suspended customer server may not). */
  async assertPowerOnAllowed(machineId: string): Promise<void> {
    const o = await this.deps.knex('orders').join('machines', 'machines.order_id', 'orders.id').where('machines.id', machineId).first('orders.id', 'orders.suspended');
    if (o && (o.suspended === true || o.suspended === 1)) throw new ConflictError(`machine ${machineId} serves suspended order ${o.id}: restore the order before powering on`);
  }

  private async order(db: Knex | Knex.Transaction, id: string): Promise<Record<string, unknown>> {
    const o = await db('orders').where({ id }).first();
    if (!o) throw new NotFoundError(`order ${id} not found`);
    return o;
  }
}
