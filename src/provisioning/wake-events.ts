/**
 * What ends a waiting workflow step, by kind. A leaf module: the boot role's wake-ups (wakeups.ts,
 * loaded by boot-only processes too) need these names without the workflow engine behind them.
 */

/** The kinds of boot activity a waiting step can be woken by. */
export type WakeReason = 'network_boot' | 'callback';

/** Boot events that show a machine booted from the network (the PXE waits end on them). */
export const NETWORK_BOOT_EVENTS = ['pxe_seen', 'script_served'];

/** The callbacks a `waitForCallback` step ends on: the awaited event, or `failed`. */
export const WAIT_ENDING_CALLBACKS = ['installed', 'first_boot', 'failed'] as const;
