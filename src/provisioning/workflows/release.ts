import type { Knex } from 'knex';
import type { Clock } from '../../clock.js';
import { systemClock } from '../../clock.js';
import { writeAudit } from '../../db/repositories/audit.js';
import type { Notifier } from '../../notifications/outbox.js';
import type { BootIntents, MachineBmcs } from '../ports.js';
import { StepFailedError, type StepDefinition, type WorkflowDefinition } from './engine.js';
import { bmcStep, waitForCallback, waitForNetworkBoot } from './steps.js';
import { DEFAULT_DEPLOY_TIMEOUTS } from './deploy.js';

export interface ReleaseDeps {
  knex: Knex;
  bmcs: MachineBmcs;
  boot: BootIntents;
  notifier?: Notifier | null;
  clock?: Clock;
  timeouts?: { pxeMs?: number; wipeMs?: number; pollMs?: number };
  bootMode?: 'uefi' | 'legacy';
}

const SYSTEM = { name: 'system:releaser' };

/**
 * Release: the customer's server is wiped and the machine returns to `available`.
 * power off → prepare the wipe image → PXE next boot → power on → wait for PXE → wait for the
 * wipe image's callback (`installed` = every disk wiped) → power off → available.
 * Only ever started by an order termination carrying the customer's request reference.
 */
export function releaseWorkflow(deps: ReleaseDeps): WorkflowDefinition {
  const { knex, bmcs, boot } = deps;
  const clock = deps.clock ?? systemClock;
  const pxeMs = deps.timeouts?.pxeMs ?? DEFAULT_DEPLOY_TIMEOUTS.pxeMs;
  const wipeMs = deps.timeouts?.wipeMs ?? 6 * 3_600_000;
  const pollMs = deps.timeouts?.pollMs ?? DEFAULT_DEPLOY_TIMEOUTS.pollMs;
  const steps: StepDefinition[] = [
    bmcStep(bmcs, 'power_off', async (bmc) => { await bmc.setPower('off'); }),
    {
      name: 'prepare_wipe',
      maxAttempts: 3,
      runTimeoutMs: 30_000,
      async run({ workflow: wf }) {
        if (wf.data.deploymentId) return { outcome: 'done' };
        const now = clock.now().toISOString();
        const moved = await knex('machines').where({ id: wf.machineId }).whereIn('provision_state', ['releasing', 'wiping']).update({ provision_state: 'wiping', updated_at: now });
        if (moved !== 1) throw new StepFailedError(`machine ${wf.machineId} is not being released`);
        const { deploymentId } = await boot.prepare(wf.machineId, { kind: 'wipe' });
        return { outcome: 'done', data: { deploymentId } };
      },
    },
    bmcStep(bmcs, 'boot_pxe', async (bmc) => { await bmc.setBootDevice({ device: 'pxe', persistent: false, mode: deps.bootMode ?? 'uefi' }); }),
    bmcStep(bmcs, 'power_on', async (bmc) => {
      const poweredOnAt = clock.now().toISOString();
      await bmc.setPower('on');
      return { poweredOnAt };
    }),
    waitForNetworkBoot({ bmcs, boot, clock, pxeMs, pollMs, what: 'into the wipe image' }),
    waitForCallback({ name: 'wait_wipe', boot, event: 'installed', withinMs: wipeMs, pollMs, who: 'wipe image', cause: 'hardware_failure' }),
    bmcStep(bmcs, 'power_off_final', async (bmc) => { await bmc.setPower('off'); }),
  ];
  return {
    kind: 'release',
    steps,
    async onSucceeded(trx, wf) {
      const now = clock.now().toISOString();
      await trx('machines').where({ id: wf.machineId }).update({ provision_state: 'available', order_id: null, last_error: null, updated_at: now });
      await writeAudit(trx, SYSTEM, { action: 'machine.release', targetType: 'machine', targetId: wf.machineId, before: { provision_state: 'wiping' }, after: { provision_state: 'available' } }, now);
      if (wf.data.deploymentId) await boot.finish(String(wf.data.deploymentId), 'done', undefined, trx);
      if (wf.orderId) await deps.notifier?.enqueue(trx, { event: 'order.released', subjectType: 'order', subjectId: wf.orderId, data: { order_id: wf.orderId, machine_wiped: true } });
    },
    async onFailed(trx, wf, error, step) {
      const now = clock.now().toISOString();
      const reason = `release failed at ${step}: ${error.message}`;
      await trx('machines').where({ id: wf.machineId }).update({ provision_state: 'failed', last_error: reason, updated_at: now });
      await writeAudit(trx, SYSTEM, { action: 'machine.fail', targetType: 'machine', targetId: wf.machineId, after: { provision_state: 'failed' }, reason }, now);
      if (wf.data.deploymentId) await boot.finish(String(wf.data.deploymentId), 'failed', reason, trx);
    },
  };
}
