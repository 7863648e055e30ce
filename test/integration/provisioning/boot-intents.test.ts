import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { seedSite } from '../../support/seed.js';
import { DeploymentService } from '../../../src/boot/deployments.js';
import { DeploymentBootIntents } from '../../../src/provisioning/boot-intents.js';

describe.each(testDatabases())('provisioning view of the boot services on %s', (dialect) => {
  const t = useTestDatabase(dialect);

  beforeAll(async () => {
    const ts = new Date().toISOString();
    await seedSite(t.knex);
    await t.knex('machines').insert({ id: 'm1', serial: 'M1', hardware_profile: 'p', site_id: 's', maintenance: false, created_at: ts, updated_at: ts });
  });

  it('splits an order\'s fully qualified host name into the installer\'s host label and domain, and reuses the deployment on a retry', async () => {
    const intents = new DeploymentBootIntents(t.knex, new DeploymentService(t.knex));
    const { deploymentId } = await intents.prepare('m1', { kind: 'install', osImage: 'debian-12', hostname: 'web1.customer.example', sshKeys: [] });
    const d = await new DeploymentService(t.knex).get(deploymentId);
    expect(d.hostname).toBe('web1');
    expect(d.config.network.domain).toBe('customer.example');
    // A step re-run after a crash finds the deployment it created.
    expect((await intents.prepare('m1', { kind: 'install', osImage: 'debian-12', hostname: 'web1.customer.example' })).deploymentId).toBe(deploymentId);
  });

  it('sees a network boot only at or after the given instant', async () => {
    const intents = new DeploymentBootIntents(t.knex, new DeploymentService(t.knex));
    await t.knex('machine_events').insert({ machine_id: 'm1', event: 'pxe_seen', detail: null, at: '2026-11-26T10:00:00.000Z' });
    expect(await intents.pxeSeenSince('m1', '2026-11-26T09:59:59.000Z')).toBe(true);
    expect(await intents.pxeSeenSince('m1', '2026-11-26T10:00:00.001Z')).toBe(false);
  });
});
