import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { OrderService } from '../../../src/orders/orders.js';
import { Notifier } from '../../../src/notifications/outbox.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';
import { ManualClock } from '../../../src/clock.js';
import { ConflictError, InputError, UnprocessableError } from '../../../src/errors.js';

const actor = { name: 'pipeline-test' };
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf3hBt0i8gJ0nUJ3Kx0kXNZ3oT5b8Q7t8n0yYx2ZQ2k ops@example';

async function seed(knex: Knex, machinesPerSite: Record<string, number>): Promise<void> {
  const ts = new Date().toISOString();
  await knex('sites').insert([
    { id: 'ma', code: 'MA-NOU1', name: 'Nouacer', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca', delivery_window_hours: 24, created_at: ts, updated_at: ts },
    { id: 'ca', code: 'CA-MTL1', name: 'Montreal', country: 'CA', city: 'Montreal', timezone: 'America/Toronto', delivery_window_hours: 24, created_at: ts, updated_at: ts },
  ]);
  const rows = [];
  for (const [site, n] of Object.entries(machinesPerSite)) {
    for (let i = 0; i < n; i++) rows.push({ id: `${site}-${i}`, serial: `${site}${i}`, hardware_profile: 'std', site_id: site, provision_state: 'available', health: 'ok', maintenance: false, created_at: ts, updated_at: ts });
  }
  await knex('machines').insert(rows);
}

function body(overrides: Record<string, unknown> = {}) {
  return {
    external_id: 'WHMCS-1001', customer_id: 'cust-42', contact_email: 'ops@customer.example', hardware_profile: 'std', country: 'MA',
    os_image: 'debian-12', hostname: 'web1.customer.example', ssh_keys: [KEY], support_tier: 'managed', paid_at: '2026-11-26T08:00:00Z',
    ...overrides,
  };
}

describe.each(testDatabases())('orders on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  const clock = new ManualClock('2026-11-26T09:00:00.000Z');
  let service: OrderService;
  beforeAll(async () => {
    await seed(t.knex, { ma: 2, ca: 1 });
    const notifier = new Notifier({ webhook: { url: 'http://127.0.0.1:9/', secret: 's' } }, new SecretBox(randomBytes(32)), clock);
    service = new OrderService({ knex: t.knex, clock, notifier });
  });

  it('creates an order with a 24-hour deadline from payment and allocates a machine in its country', async () => {
    const { order, created } = await service.createOrder(body(), 'key-1', actor);
    expect(created).toBe(true);
    expect(order.status).toBe('allocated');
    expect(order.machine_id).toMatch(/^ma-/);
    expect(order.delivery_clock).toMatchObject({ paid_at: '2026-11-26T08:00:00.000Z', deadline_at: '2026-11-27T08:00:00.000Z', status: 'on_track', remaining_seconds: 23 * 3600 });
  });

  it('returns the same order for a retried request and never takes a second machine', async () => {
    const first = await service.createOrder(body({ external_id: 'R-1' }), 'key-retry', actor);
    const again = await service.createOrder(body({ external_id: 'R-1' }), 'key-retry', actor);
    expect(again.created).toBe(false);
    expect(again.order.id).toBe(first.order.id);
    expect(again.order.machine_id).toBe(first.order.machine_id);
    const used = await t.knex('machines').where({ order_id: first.order.id }).count({ n: '*' });
    expect(Number(used[0]!.n)).toBe(1);
  });

  it('answers 409 when an Idempotency-Key is reused with a different body', async () => {
    await expect(service.createOrder(body({ external_id: 'R-1', hostname: 'other.example' }), 'key-retry', actor)).rejects.toBeInstanceOf(ConflictError);
  });

  it('creates one order when the same request arrives 10 times at once', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => service.createOrder(body({ external_id: 'C-1', country: 'CA' }), 'key-concurrent', actor)));
    expect(new Set(results.map((r) => r.order.id)).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
  });

  it('keeps an order waiting (not failed) when its country is full, and never uses another country', async () => {
    const { order } = await service.createOrder(body({ external_id: 'W-1' }), 'key-wait', actor);
    expect(order.status).toBe('received');
    expect(order.machine_id).toBeNull();
    // A Moroccan machine frees up: the waiting order gets it.
    await service.cancelOrder((await service.getOrder((await t.knex('orders').where({ idempotency_key: 'key-1' }).first()).id)).id, actor, 'customer changed their mind');
    expect(await service.allocateWaiting()).toBe(1);
    const after = await service.getOrder(order.id);
    expect(after.status).toBe('allocated');
    expect(after.machine_id).toMatch(/^ma-/);
  });

  it('refuses bad input with the field named, and a country without a datacenter with 422', async () => {
    await expect(service.createOrder(body({ hostname: 'Not A Host' }), 'k-bad', actor)).rejects.toThrow(/hostname/);
    await expect(service.createOrder(body({ bogus: 1 }), 'k-bad2', actor)).rejects.toBeInstanceOf(InputError);
    await expect(service.createOrder(body({ country: 'FR' }), 'k-fr', actor)).rejects.toBeInstanceOf(UnprocessableError);
    await expect(service.createOrder(body({ site: 'CA-MTL1', country: 'MA' }), 'k-mismatch', actor)).rejects.toThrow(/is in CA, not MA/);
    await expect(service.createOrder(body({ ssh_keys: [] }), 'k-nokeys', actor)).rejects.toThrow(/ssh_keys/);
  });

  it('publishes each change of clock status once (at_risk, then breached)', async () => {
    clock.set('2026-11-27T05:00:00.000Z');
    const changes = await service.tickClocks();
    expect(changes.length).toBeGreaterThan(0);
    expect(changes.every((c) => c.to === 'at_risk')).toBe(true);
    expect(await service.tickClocks()).toEqual([]);
    clock.set('2026-11-27T08:00:01.000Z');
    expect((await service.tickClocks()).every((c) => c.to === 'breached')).toBe(true);
    const events = await t.knex('notifications').where({ event: 'order.clock_changed' }).count({ n: '*' });
    expect(Number(events[0]!.n)).toBeGreaterThanOrEqual(2);
  });

  it('lists orders with filters and cursor pagination', async () => {
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await service.listOrders({ limit: 2, ...(cursor ? { cursor } : {}) });
      all.push(...page.items.map((o) => o.id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    const total = await t.knex('orders').count({ n: '*' });
    expect(all).toHaveLength(Number(total[0]!.n));
    expect(new Set(all).size).toBe(all.length);
    const cancelled = await service.listOrders({ status: 'cancelled' });
    expect(cancelled.items.every((o) => o.status === 'cancelled')).toBe(true);
    expect(cancelled.items).toHaveLength(1);
  });
  it('refuses orders that could never be delivered as asked: an image outside the boot catalog, a payment in the future', async () => {
    const withCatalog = new OrderService({ knex: t.knex, clock, knownImages: ['debian-12', 'rocky-9'] });
    const unknown = await withCatalog.createOrder(body({ external_id: 'IMG-1', os_image: 'windows-95' }), 'k-img', actor).then(() => null, (e: unknown) => e);
    expect(unknown).toBeInstanceOf(UnprocessableError);
    expect(unknown).toMatchObject({ details: [{ field: 'os_image', message: expect.stringContaining('debian-12, rocky-9') }] });
    // The pipeline's clock may run a little ahead; beyond five minutes the payment cannot have happened yet.
    const ahead = (minutes: number) => new Date(clock.now().getTime() + minutes * 60_000).toISOString();
    const future = await service.createOrder(body({ external_id: 'FUT-1', paid_at: ahead(10) }), 'k-future', actor).then(() => null, (e: unknown) => e);
    expect(future).toMatchObject({ status: 422, details: [{ field: 'paid_at' }] });
    expect((await service.createOrder(body({ external_id: 'FUT-2', paid_at: ahead(2), country: 'CA' }), 'k-skew', actor)).created).toBe(true);
    // Nothing was written for the refused ones.
    expect(await t.knex('orders').whereIn('external_id', ['IMG-1', 'FUT-1']).count({ n: '*' }).first()).toEqual({ n: dialect === 'sqlite' ? 0 : '0' });
  });

  it('refuses a second live order for one external id under another Idempotency-Key, and takes it again once the first is cancelled', async () => {
    const first = await service.createOrder(body({ external_id: 'TWIN-1', country: 'CA' }), 'k-twin-a', actor);
    const twin = await service.createOrder(body({ external_id: 'TWIN-1', country: 'CA' }), 'k-twin-b', actor).then(() => null, (e: unknown) => e);
    expect(twin).toBeInstanceOf(ConflictError);
    expect(twin).toMatchObject({ details: [{ field: 'external_id', order_id: first.order.id }] });
    await service.cancelOrder(first.order.id, actor, 'placed again');
    const again = await service.createOrder(body({ external_id: 'TWIN-1', country: 'CA' }), 'k-twin-b', actor);
    expect(again.created).toBe(true);
    expect(again.order.id).not.toBe(first.order.id);
  });
});
