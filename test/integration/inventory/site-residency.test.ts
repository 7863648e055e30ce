import { ConflictError } from '../../../src/errors.js';
import { OrderService } from '../../../src/orders/orders.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { actor, newService } from './helpers.js';

/**
 * Data residency: customers chose the country of their server. A site that holds customers'
 * servers or orders keeps its country; an empty one may have a wrong country corrected.
 */
describe.each(testDatabases())('site country on %s', (dialect) => {
  const t = useTestDatabase(dialect);

  it('refuses to change the country of a site with an order bound to it, and allows it once nothing is there', async () => {
    const { service } = newService(t.knex);
    await service.createSite({ code: 'MA-CAS1', name: 'Casablanca 1', country: 'MA', city: 'Casablanca', timezone: 'Africa/Casablanca' }, actor);
    const typo = await service.createSite({ code: 'CA-TOR1', name: 'Toronto 1', country: 'MA', city: 'Toronto', timezone: 'America/Toronto' }, actor);
    // An empty site with a wrong country is corrected.
    expect((await service.updateSite(typo.code, { country: 'CA' }, actor)).country).toBe('CA');

    const orders = new OrderService({ knex: t.knex });
    const { order } = await orders.createOrder({
      external_id: 'RES-1', customer_id: 'c', contact_email: 'c@example.com', hardware_profile: 'res', site: 'MA-CAS1', os_image: 'debian-12',
      hostname: 'res.example.com', root_password: true, support_tier: 'managed', paid_at: new Date().toISOString(),
    }, 'k-res', actor);
    const refused = await service.updateSite('MA-CAS1', { country: 'CA' }, actor).then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(ConflictError);
    expect(refused).toMatchObject({ details: [{ field: 'country', orders: 1, servers: 0 }] });
    // Other fields still change.
    expect((await service.updateSite('MA-CAS1', { name: 'Casablanca One' }, actor)).country).toBe('MA');

    await orders.cancelOrder(order.id, actor, 'test');
    expect((await service.updateSite('MA-CAS1', { country: 'CA' }, actor)).country).toBe('CA');
  });

  it('refuses it while a machine of the site holds a customer server', async () => {
    const { service } = newService(t.knex);
    await service.createSite({ code: 'MA-NOU9', name: 'Nouacer 9', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca' }, actor);
    const site = await service.getSite('MA-NOU9');
    const ts = new Date().toISOString();
    await t.knex('machines').insert({ id: 'res-m1', serial: 'res-m1', hardware_profile: 'res2', site_id: site.id, provision_state: 'available', health: 'ok', maintenance: false, created_at: ts, updated_at: ts });
    const orders = new OrderService({ knex: t.knex });
    const { order } = await orders.createOrder({
      external_id: 'RES-2', customer_id: 'c', contact_email: 'c@example.com', hardware_profile: 'res2', country: 'MA', os_image: 'debian-12',
      hostname: 'res2.example.com', root_password: true, support_tier: 'managed', paid_at: new Date().toISOString(),
    }, 'k-res2', actor);
    expect(order.machine_id).toBe('res-m1');
    const refused = await service.updateSite('MA-NOU9', { country: 'CA' }, actor).then(() => null, (e: unknown) => e);
    expect(refused).toMatchObject({ status: 409, details: [{ field: 'country', servers: 1 }] });
    expect((await service.getSite('MA-NOU9')).country).toBe('MA');
  });
});
