import type { Clock } from '../../clock.js';
import type { BootIntents, MachineBmcs } from '../ports.js';
import { StepFailedError, type StepContext, type StepDefinition } from './engine.js';

/** Why a delivery failed, for the delivery report's miss causes. */
export type FailureCause = 'hardware_failure' | 'install_failure' | 'bmc_unreachable';

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
 * A step that does one BMC operation. Attempts are retried by the engine; the last failure of an
 * unreachable BMC is recorded as `bmc_unreachable`.
 */
export function bmcStep(name: string, action: (ctx: StepContext) => Promise<Record<string, unknown> | void>): StepDefinition {
  return {
    name,
    maxAttempts: BMC_ATTEMPTS,
    runTimeoutMs: 120_000,
    async run(ctx) {
      try {
        const data = await action(ctx);
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
    async run({ workflow: wf, now, stepStartedAt }) {
      const since = String(wf.data.poweredOnAt ?? stepStartedAt.toISOString());
      if (await deps.boot.pxeSeenSince(wf.machineId, since)) return { outcome: 'done' };
      if (now.getTime() - Date.parse(since) < deps.pxeMs) return { outcome: 'wait', retryInMs: deps.pollMs, detail: 'waiting for the machine to network-boot' };
      if (!wf.data.pxeRetried) {
        await (await deps.bmcs.driverFor(wf.machineId)).setPower('cycle').catch(bmcFailure);
        return { outcome: 'restart', retryInMs: deps.pollMs, data: { pxeRetried: true, poweredOnAt: deps.clock.now().toISOString() }, detail: 'no network boot; power-cycled once' };
      }
      throw new CausedFailure(`machine did not network-boot ${deps.what} within ${Math.round(deps.pxeMs / 1000)} s, also after a power cycle`, 'hardware_failure');
    },
  };
}
