import type { Clock } from '../../clock.js';
import type { BmcDriver } from '../../bmc/driver.js';
import type { BootIntents, MachineBmcs } from '../ports.js';
import type { WAIT_ENDING_CALLBACKS } from '../wake-events.js';
import { StepFailedError, type StepContext, type StepDefinition } from './engine.js';

/**
 * Why a delivery failed, for the delivery report's miss causes. `invalid_order`: the order asks for
 * something this installation cannot deploy (an OS image the boot catalog lacks); no machine is to
 * blame and no other machine would do better.
 */
export type FailureCause = 'hardware_failure' | 'install_failure' | 'bmc_unreachable' | 'invalid_order';

/** A permanent step failure that names its cause for the report. */
export class CausedFailure extends StepFailedError {}

/** Turns a BMC that stays unreachable (or refuses the credentials) into a `bmc_unreachable` failure. */
export function bmcFailure(err: unknown): never {
  const e = err as { code?: string; message?: string };
  if (e?.code === 'bmc_unreachable' || e?.code === 'bmc_auth_failed') throw new CausedFailure(`BMC: ${e.message}`, 'bmc_unreachable');
  throw err;
}

const BMC_ATTEMPTS = 4;

/**
 * A step that does one BMC operation on the workflow's machine. Attempts are retried by the
 * engine; the last failure of an unreachable BMC is recorded as `bmc_unreachable`.
 */
export function bmcStep(bmcs: MachineBmcs, name: string, action: (bmc: BmcDriver, ctx: StepContext) => Promise<Record<string, unknown> | void>): StepDefinition {
  return {
    name,
    maxAttempts: BMC_ATTEMPTS,
    runTimeoutMs: 120_000,
    async run(ctx) {
      try {
        const data = await action(await bmcs.driverFor(ctx.workflow.machineId, ctx.memo), ctx);
        return { outcome: 'done', ...(data ? { data } : {}) };
      } catch (err) {
        if (ctx.attempt >= BMC_ATTEMPTS) bmcFailure(err);
        throw err;
      }
    },
  };
}

/**
 * Waits for the machine to network-boot after `data.poweredOnAt`; after `pxeMs` without one it
 * power-cycles once and waits again, then fails with a hardware cause.
 */
export function waitForNetworkBoot(deps: { bmcs: MachineBmcs; boot: BootIntents; clock: Clock; pxeMs: number; pollMs: number; what: string }): StepDefinition {
  return {
    name: 'wait_pxe',
    maxAttempts: 3,
    runTimeoutMs: 120_000,
    wakesOn: 'network_boot',
    async run({ workflow: wf, now, stepStartedAt, memo }) {
      const since = String(wf.data.poweredOnAt ?? stepStartedAt.toISOString());
      if (await deps.boot.pxeSeenSince(wf.machineId, since)) return { outcome: 'done' };
      if (now.getTime() - Date.parse(since) < deps.pxeMs) return { outcome: 'wait', retryInMs: deps.pollMs, detail: 'waiting for the machine to network-boot' };
      if (!wf.data.pxeRetried) {
        // Taken before the power call, as power_on does: a machine that boots while a slow BMC
        // answers still counts as booted after it.
        const poweredOnAt = deps.clock.now().toISOString();
        await (await deps.bmcs.driverFor(wf.machineId, memo)).setPower('cycle').catch(bmcFailure);
        return { outcome: 'restart', retryInMs: deps.pollMs, data: { pxeRetried: true, poweredOnAt }, detail: 'no network boot; power-cycled once' };
      }
      throw new CausedFailure(`machine did not network-boot ${deps.what} within ${Math.round(deps.pxeMs / 1000)} s, also after a power cycle`, 'hardware_failure');
    },
  };
}


/**
 * Waits for the deployment's callback `event` (`installed`, `first_boot`) for at most `withinMs`
 * from the step's start. A `failed` callback fails the step at once; both failures carry `cause`.
 */
export function waitForCallback(deps: {
  name: string;
  boot: BootIntents;
  event: Exclude<(typeof WAIT_ENDING_CALLBACKS)[number], 'failed'>;
  withinMs: number;
  pollMs: number;
  /** Who calls back, for messages: "installer", "wipe image", "installed system". */
  who: string;
  cause: FailureCause;
}): StepDefinition {
  const minutes = Math.round(deps.withinMs / 60_000);
  return {
    name: deps.name,
    maxAttempts: 3,
    runTimeoutMs: 30_000,
    wakesOn: 'callback',
    async run({ workflow: wf, now, stepStartedAt }) {
      const callbacks = await deps.boot.callbacks(String(wf.data.deploymentId));
      const failed = callbacks.find((c) => c.event === 'failed');
      if (failed) throw new CausedFailure(`${deps.who} reported failure: ${JSON.stringify(failed.detail ?? null).slice(0, 300)}`, deps.cause);
      if (callbacks.some((c) => c.event === deps.event)) return { outcome: 'done' };
      if (now.getTime() - stepStartedAt.getTime() > deps.withinMs) {
        const started = callbacks.some((c) => c.event === 'started');
        const what = deps.event === 'first_boot' ? 'did not report its first boot' : started ? 'started but did not finish' : 'never started';
        throw new CausedFailure(`${deps.who} ${what} within ${minutes} min`, deps.cause);
      }
      return { outcome: 'wait', retryInMs: deps.pollMs, detail: `waiting for the ${deps.who}` };
    },
  };
}
