import type { Knex } from 'knex';
import type { BmcDriver } from '../bmc/driver.js';

/**
 * What provisioning needs from the rest of Anvil, as small interfaces so workflows can be driven
 * by real BMCs and boot services in production and by fakes in tests and the lab.
 */
export interface MachineBmcs {
  /**
   * The (serialised, timeout-bounded) driver for the machine's BMC. With a `memo` (a workflow
   * drive's), the BMC record is read once for all the steps of the drive.
   */
  driverFor(machineId: string, memo?: Map<string, unknown>): Promise<BmcDriver>;
}

export interface DeploymentSpec {
  kind: 'install' | 'wipe';
  osImage?: string | null;
  hostname?: string | null;
  sshKeys?: string[];
  /** SHA-512 crypt hash; the plaintext never leaves the order's sealed credentials. */
  rootPasswordHash?: string | null;
}

export interface DeploymentCallback {
  event: 'started' | 'installed' | 'failed' | 'first_boot';
  at: string;
  detail: unknown;
}

export interface BootIntents {
  /** Makes the machine's next network boot run this deployment; returns its id. */
  prepare(machineId: string, spec: DeploymentSpec): Promise<{ deploymentId: string }>;
  /** The installer callbacks received so far for the deployment. */
  callbacks(deploymentId: string): Promise<DeploymentCallback[]>;
  /** True when the machine network-booted (PXE seen or iPXE script served) at or after `since`. */
  pxeSeenSince(machineId: string, since: string): Promise<boolean>;
  /**
   * Marks the deployment finished so the next network boot does nothing (boots the disk).
   * `db` is the caller's transaction when it must commit together with other changes.
   */
  finish(deploymentId: string, outcome: 'done' | 'failed' | 'cancelled', reason?: string, db?: Knex.Transaction): Promise<void>;
}
