import type { Knex } from 'knex';
import { ConflictError } from '../errors.js';
import type { DeploymentService } from '../boot/deployments.js';
import type { BootIntents, DeploymentCallback, DeploymentSpec } from './ports.js';
import { NETWORK_BOOT_EVENTS } from './wake-events.js';


/**
 * Provisioning's view of the boot services: deployments (what the next network boot does) and
 * the boot events and installer callbacks that workflows wait on.
 */
export class DeploymentBootIntents implements BootIntents {
  constructor(
    private readonly knex: Knex,
    private readonly deployments: DeploymentService,
    /** The image the wipe deployment boots (a name in the boot catalog). */
    private readonly wipeImage = 'wipe',
  ) {}

  async prepare(machineId: string, spec: DeploymentSpec): Promise<{ deploymentId: string }> {
    try {
      // Orders carry a fully qualified name; the installer takes the host label and the domain apart.
      const [label, ...domain] = (spec.hostname ?? '').split('.');
      const { deployment } = await this.deployments.createDeployment(machineId, {
        kind: spec.kind,
        os_image: spec.kind === 'wipe' ? this.wipeImage : (spec.osImage ?? undefined),
        ...(label ? { hostname: label } : {}),
        ...(domain.length > 0 ? { network: { domain: domain.join('.') } } : {}),
        ssh_keys: spec.sshKeys ?? [],
        ...(spec.rootPasswordHash ? { root_password_hash: spec.rootPasswordHash } : {}),
      });
      return { deploymentId: deployment.id };
    } catch (err) {
      // A step retried after a crash finds the deployment it created before: reuse it.
      const details = (err as ConflictError).details as { reason?: string; deployment_id?: string } | undefined;
      if (err instanceof ConflictError && details?.reason === 'active_deployment' && details.deployment_id) {
        const existing = await this.deployments.get(details.deployment_id);
        if (existing.kind === spec.kind) return { deploymentId: existing.id };
      }
      throw err;
    }
  }

  async callbacks(deploymentId: string): Promise<DeploymentCallback[]> {
    return (await this.deployments.callbacks(deploymentId)).map((c) => ({ event: c.event, at: c.at, detail: c.detail }));
  }

  async pxeSeenSince(machineId: string, since: string): Promise<boolean> {
    const row = await this.knex('machine_events').where({ machine_id: machineId }).whereIn('event', NETWORK_BOOT_EVENTS).andWhere('at', '>=', since).first('id');
    return !!row;
  }

  async finish(deploymentId: string, outcome: 'done' | 'failed' | 'cancelled', reason?: string, db?: Knex.Transaction): Promise<void> {
    await this.deployments.finish(deploymentId, outcome, reason, db);
  }
}
