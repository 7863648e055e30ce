import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../../clock.js';
import { systemClock } from '../../clock.js';
import { writeAudit } from '../../db/repositories/audit.js';
import { json, toIso } from '../../db/sql.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { Notifier } from '../../notifications/outbox.js';
import { sha512crypt } from '../../boot/crypt.js';
import { deliveryStatus } from '../../orders/delivery-clock.js';
import type { BootIntents, MachineBmcs } from '../ports.js';
import { InputError } from '../../errors.js';
import { StepFailedError, type StepDefinition, type WorkflowDefinition, type WorkflowRecord } from './engine.js';
import { bmcStep, CausedFailure, waitForCallback, waitForNetworkBoot, type FailureCause } from './steps.js';

export type { FailureCause } from './steps.js';

export interface DeployTimeouts {
  /** From power-on until the machine network-boots; one power-cycle retry, then failure. */
  pxeMs: number;
  /** From PXE until the installer reports `installed`. */
  installMs: number;
  /** From the reboot into the installed system until its first-boot callback. */
  firstBootMs: number;
  /** How often waiting steps look again. */
  pollMs: number;
}

export const DEFAULT_DEPLOY_TIMEOUTS: DeployTimeouts = { pxeMs: 10 * 60_000, installMs: 90 * 60_000, firstBootMs: 20 * 60_000, pollMs: 2_000 };

export interface DeployDeps {
  knex: Knex;
  bmcs: MachineBmcs;
  boot: BootIntents;
  secrets: SecretBox;
  notifier?: Notifier | null;
  clock?: Clock;
  timeouts?: Partial<DeployTimeouts>;
  bootMode?: 'uefi' | 'legacy';
}


const SYSTEM = { name: 'system:deployer' };

/** Root passwords: 20 characters from an unambiguous alphabet (≈115 bits). */
export function generatePassword(length = 20): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = randomBytes(length * 2);
  let out = '';
  for (let i = 0; i < bytes.length && out.length < length; i++) {
    const v = bytes[i]!;
    if (v < 256 - (256 % alphabet.length)) out += alphabet[v % alphabet.length];
  }
  return out;
}

/** The customer's delivery e-mail: where the server is and how to log in. */
export function deliveryEmail(hostname: string, addresses: string[], credentials: Record<string, unknown>, sshKeys: number): string {
  return [
    `Your dedicated server ${hostname} is installed and running.`,
    '',
    `Addresses: ${addresses.length ? addresses.join(', ') : '(see your customer panel)'}`,
    `Login: ${String(credentials.username ?? 'root')}`,
    credentials.password ? `Password: ${String(credentials.password)}` : `Password login: none; ${sshKeys} SSH key(s) you gave are installed.`,
    '',
    'Change the password after your first login. We never act on your data without your express request.',
  ].join('\n');
}

export function deployWorkflow(deps: DeployDeps): WorkflowDefinition {
  const { knex, bmcs, boot, secrets } = deps;
  const clock = deps.clock ?? systemClock;
  const timeouts = { ...DEFAULT_DEPLOY_TIMEOUTS, ...deps.timeouts };
  const order = async (wf: WorkflowRecord) => {
    const row = await knex('orders').where({ id: wf.orderId }).first();
    if (!row) throw new StepFailedError(`order ${wf.orderId} no longer exists`);
    return row as Record<string, unknown>;
  };

  const steps: StepDefinition[] = [
    {
      name: 'start',
      maxAttempts: 3,
      runTimeoutMs: 10_000,
      async run({ workflow: wf }) {
        const now = clock.now().toISOString();
        await knex.transaction(async (trx) => {
          const moved = await trx('machines').where({ id: wf.machineId, order_id: wf.orderId }).whereIn('provision_state', ['allocated', 'deploying']).update({ provision_state: 'deploying', updated_at: now });
          if (moved !== 1) throw new StepFailedError(`machine ${wf.machineId} is no longer allocated to order ${wf.orderId}`);
          await trx('orders').where({ id: wf.orderId }).whereIn('status', ['allocated', 'provisioning']).update({ status: 'provisioning', updated_at: now });
          await writeAudit(trx, SYSTEM, { action: 'machine.deploy', targetType: 'machine', targetId: wf.machineId, after: { provision_state: 'deploying', order_id: wf.orderId, workflow_id: wf.id } }, now);
        });
        return { outcome: 'done' };
      },
    },
    {
      name: 'prepare_boot',
      maxAttempts: 3,
      runTimeoutMs: 30_000,
      async run({ workflow: wf }) {
        if (wf.data.deploymentId) return { outcome: 'done', detail: 'already prepared' };
        const o = await order(wf);
        let rootPasswordHash: string | null = null;
        if (o.root_password_requested === true || o.root_password_requested === 1) {
          // The password is generated once and kept only sealed on the order until delivery.
          let sealed = o.credentials_enc as string | null;
          if (!sealed) {
            sealed = secrets.seal(JSON.stringify({ username: 'root', password: generatePassword() }));
            await knex('orders').where({ id: wf.orderId }).whereNull('credentials_enc').update({ credentials_enc: sealed });
            sealed = String((await knex('orders').where({ id: wf.orderId }).first('credentials_enc')).credentials_enc);
          }
          rootPasswordHash = sha512crypt((JSON.parse(secrets.open(sealed)) as { password: string }).password);
        }
        try {
          const { deploymentId } = await boot.prepare(wf.machineId, {
            kind: 'install',
            osImage: String(o.os_image),
            hostname: String(o.hostname),
            sshKeys: json.read<string[]>(o.ssh_keys, []),
            rootPasswordHash,
          });
          return { outcome: 'done', data: { deploymentId } };
        } catch (err) {
          // The boot services refused what the order asks for: retrying, or another machine, would be
          // refused the same way.
          if (err instanceof InputError) throw new CausedFailure(`the order cannot be deployed: ${err.message}`, 'invalid_order');
          throw err;
        }
      },
    },
    bmcStep(bmcs, 'power_off', async (bmc) => { await bmc.setPower('off'); }),
    bmcStep(bmcs, 'boot_pxe', async (bmc) => { await bmc.setBootDevice({ device: 'pxe', persistent: false, mode: deps.bootMode ?? 'uefi' }); }),
    bmcStep(bmcs, 'power_on', async (bmc) => {
      // Taken before the power call: a machine that boots at once still counts as booted after it.
      const poweredOnAt = clock.now().toISOString();
      await bmc.setPower('on');
      return { poweredOnAt };
    }),
    waitForNetworkBoot({ bmcs, boot, clock, pxeMs: timeouts.pxeMs, pollMs: timeouts.pollMs, what: 'into the installer' }),
    waitForCallback({ name: 'wait_install', boot, event: 'installed', withinMs: timeouts.installMs, pollMs: timeouts.pollMs, who: 'installer', cause: 'install_failure' }),
    bmcStep(bmcs, 'boot_disk', async (bmc) => { await bmc.setBootDevice({ device: 'disk', persistent: true, mode: deps.bootMode ?? 'uefi' }); }),
    bmcStep(bmcs, 'reboot', async (bmc) => { await bmc.setPower('cycle'); }),
    waitForCallback({ name: 'wait_first_boot', boot, event: 'first_boot', withinMs: timeouts.firstBootMs, pollMs: timeouts.pollMs, who: 'installed system', cause: 'install_failure' }),
    {
      name: 'deliver',
      maxAttempts: 5,
      runTimeoutMs: 30_000,
      async run({ workflow: wf }) {
        const now = clock.now().toISOString();
        await knex.transaction(async (trx) => {
          const o = await trx('orders').where({ id: wf.orderId }).first();
          if (!o) throw new StepFailedError(`order ${wf.orderId} no longer exists`);
          await trx('machines').where({ id: wf.machineId }).update({ provision_state: 'active', last_error: null, updated_at: now });
          // A reinstall delivers new access to an order whose clock was already decided.
          const reinstall = o.status === 'delivered';
          const deliveredAt = reinstall ? toIso(o.delivered_at)! : now;
          const clockStatus = deliveryStatus({ paidAt: toIso(o.paid_at)!, deadlineAt: toIso(o.deadline_at)!, deliveredAt }, new Date(now));
          if (!reinstall) await trx('orders').where({ id: wf.orderId }).update({ status: 'delivered', delivered_at: now, clock_status: clockStatus, updated_at: now });
          const nics = await trx('nics').where({ machine_id: wf.machineId }).whereNotNull('ipv4_address').pluck('ipv4_address');
          const credentials = o.credentials_enc ? (JSON.parse(secrets.open(String(o.credentials_enc))) as Record<string, unknown>) : { username: 'root' };
          await deps.notifier?.enqueue(trx, {
            event: reinstall ? 'order.reinstalled' : 'order.delivered',
            subjectType: 'order',
            subjectId: String(o.id),
            data: {
              order_id: o.id, external_id: o.external_id, customer_id: o.customer_id, hostname: o.hostname, ipv4_addresses: nics,
              credentials: { ...credentials, ssh_keys_installed: json.read<string[]>(o.ssh_keys, []).length },
              delivered_at: now, deadline_at: toIso(o.deadline_at), clock_status: clockStatus,
            },
            email: { to: String(o.contact_email), subject: `Your server ${o.hostname} is ${reinstall ? 'reinstalled' : 'ready'}`, text: deliveryEmail(String(o.hostname), nics as string[], credentials, json.read<string[]>(o.ssh_keys, []).length) },
          });
          if (!reinstall && o.clock_status !== clockStatus) {
            await deps.notifier?.enqueue(trx, { event: 'order.clock_changed', subjectType: 'order', subjectId: String(o.id), data: { order_id: o.id, external_id: o.external_id, from: o.clock_status, to: clockStatus } });
          }
          await writeAudit(trx, SYSTEM, { action: reinstall ? 'order.reinstalled' : 'order.deliver', targetType: 'order', targetId: String(o.id), before: { status: o.status }, after: { status: 'delivered', machine_id: wf.machineId, clock_status: clockStatus } }, now);
        });
        await boot.finish(String(wf.data.deploymentId), 'done');
        return { outcome: 'done' };
      },
    },
  ];

  /**
   * An order the boot services refused fails before any BMC call (prepare_boot precedes power_off),
   * so the machine is untouched: it goes back to the pool, or stays the customer's server when this
   * was a reinstall, and is not marked failed. A new order fails at once, its deadline
   * notwithstanding: no machine would be given a deployment the catalog lacks.
   */
  async function orderRefused(trx: Knex.Transaction, wf: WorkflowRecord, o: Record<string, unknown> | null | undefined, undelivered: boolean, reason: string, now: string): Promise<void> {
    const back = undelivered || !o ? { provision_state: 'available', order_id: null } : { provision_state: 'active' };
    await trx('machines').where({ id: wf.machineId }).update({ ...back, updated_at: now });
    await writeAudit(trx, SYSTEM, { action: 'machine.release', targetType: 'machine', targetId: wf.machineId, before: { provision_state: 'deploying' }, after: back, reason }, now);
    if (wf.data.deploymentId) await boot.finish(String(wf.data.deploymentId), 'failed', reason, trx);
    if (!o || !wf.orderId) return;
    if (undelivered) {
      await trx('orders').where({ id: wf.orderId }).update({ status: 'failed', machine_id: null, miss_cause: 'invalid_order', updated_at: now });
    } else {
      // The old system still runs with its old access; a password generated for the new one was never installed.
      await trx('orders').where({ id: wf.orderId }).update({ credentials_enc: null, updated_at: now });
    }
    const event = undelivered ? 'order.failed' : 'order.reinstall_failed';
    await writeAudit(trx, SYSTEM, { action: undelivered ? 'order.fail' : 'order.reinstall_failed', targetType: 'order', targetId: wf.orderId, before: { status: o.status, machine_id: wf.machineId }, after: { status: undelivered ? 'failed' : o.status }, reason }, now);
    await deps.notifier?.enqueue(trx, { event, subjectType: 'order', subjectId: wf.orderId, data: { order_id: wf.orderId, external_id: o.external_id, cause: 'invalid_order', reason } });
  }

  return {
    kind: 'deploy',
    steps,
    async onFailed(trx, wf, error, step) {
      const now = clock.now().toISOString();
      const cause: FailureCause = error instanceof CausedFailure ? (error.cause_code as FailureCause) : 'hardware_failure';
      const reason = `deploy failed at ${step}: ${error.message}`;
      const o = wf.orderId ? await trx('orders').where({ id: wf.orderId }).first() : null;
      const undelivered = !!o && ['allocated', 'provisioning'].includes(String(o.status));
      if (cause === 'invalid_order') {
        await orderRefused(trx, wf, o, undelivered, reason, now);
        return;
      }
      // A failed reinstall keeps the link to its order: the machine still holds that customer's server.
      await trx('machines').where({ id: wf.machineId }).update({ provision_state: 'failed', last_error: reason, ...(undelivered ? { order_id: null } : {}), updated_at: now });
      await writeAudit(trx, SYSTEM, { action: 'machine.fail', targetType: 'machine', targetId: wf.machineId, after: { provision_state: 'failed' }, reason }, now);
      if (wf.data.deploymentId) await boot.finish(String(wf.data.deploymentId), 'failed', reason, trx);
      if (!o || !undelivered || !wf.orderId) return;
      // Another machine gets the order while the deadline allows; the cause is kept for the report.
      const stillTime = Date.parse(String(toIso(o.deadline_at))) > Date.parse(now);
      await trx('orders').where({ id: wf.orderId }).update({ status: stillTime ? 'received' : 'failed', machine_id: null, miss_cause: cause, updated_at: now });
      await writeAudit(trx, SYSTEM, { action: stillTime ? 'order.reallocate' : 'order.fail', targetType: 'order', targetId: wf.orderId, before: { status: o.status, machine_id: wf.machineId }, after: { status: stillTime ? 'received' : 'failed' }, reason }, now);
      if (!stillTime) await deps.notifier?.enqueue(trx, { event: 'order.failed', subjectType: 'order', subjectId: wf.orderId, data: { order_id: wf.orderId, external_id: o.external_id, cause, reason } });
    },
  };
}
