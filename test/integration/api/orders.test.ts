import { testDatabases } from '../../support/databases.js';
import { useApi, SITE, machineBody } from './harness.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHf3hBt0i8gJ0nUJ3Kx0kXNZ3oT5b8Q7t8n0yYx2ZQ2k ops@example';

function order(overrides: Record<string, unknown> = {}) {
  return {
    external_id: 'WHMCS-77', customer_id: 'cust-1', contact_email: 'ops@customer.example', hardware_profile: 'r640-std', country: 'MA',
    os_image: 'debian-12', hostname: 'web1.customer.example', ssh_keys: [KEY], support_tier: 'managed', paid_at: new Date().toISOString(),
    ...overrides,
  };
}

describe.each(testDatabases())('orders API on %s', (dialect) => {
  const api = useApi(dialect);
  let body: ReturnType<typeof order>;

  beforeAll(async () => {
    expect((await api.call('post', '/api/v1/sites', { body: SITE })).status).toBe(201);
    const m = await api.call('post', '/api/v1/machines', { body: machineBody('ORD-1', '52:54:00:00:10:01') });
    expect(m.status).toBe(201);
    await api.knex('machines').where({ id: m.json.id }).update({ provision_state: 'available', health: 'ok' });
    body = order();
  });

  it('requires an Idempotency-Key header', async () => {
    const res = await api.call('post', '/api/v1/orders', { role: 'pipeline', body });
    expect(res.status).toBe(400);
    expect(res.json.error.details[0].field).toBe('Idempotency-Key');
  });

  it('creates the order (201) and answers a retry with the same order (200), a changed body with 409', async () => {
    const first = await api.call('post', '/api/v1/orders', { role: 'pipeline', body, headers: { 'idempotency-key': 'order-77-attempt' } });
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ status: 'allocated', country: 'MA', delivery_clock: { status: 'on_track' } });
    expect(first.headers.get('location')).toBe(`/api/v1/orders/${first.json.id}`);
    const retry = await api.call('post', '/api/v1/orders', { role: 'pipeline', body, headers: { 'idempotency-key': 'order-77-attempt' } });
    expect(retry.status).toBe(200);
    expect(retry.json.id).toBe(first.json.id);
    const changed = await api.call('post', '/api/v1/orders', { role: 'pipeline', body: { ...body, hostname: 'other.example' }, headers: { 'idempotency-key': 'order-77-attempt' } });
    expect(changed.status).toBe(409);
    expect(changed.json.error.details.reason).toBe('idempotency_key_reused');
  });

  it('validates the order body field by field', async () => {
    const res = await api.call('post', '/api/v1/orders', { role: 'pipeline', body: { ...body, support_tier: 'gold', extra: 1 }, headers: { 'idempotency-key': 'bad-order-1' } });
    expect(res.status).toBe(400);
    const fields = res.json.error.details.map((d: { field: string }) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['support_tier', 'extra']));
  });

  it('lists, filters and shows orders, and refuses to terminate without the customer request reference', async () => {
    const list = await api.call('get', '/api/v1/orders?status=allocated', { role: 'viewer' });
    expect(list.status).toBe(200);
    expect(list.json.items).toHaveLength(1);
    const id = list.json.items[0].id;
    await api.knex('orders').where({ id }).update({ status: 'delivered', delivered_at: new Date().toISOString() });
    const refused = await api.call('post', `/api/v1/orders/${id}/terminate`, { role: 'pipeline', body: { reason: 'customer left' } });
    expect(refused.status).toBe(422);
    expect(refused.json.error.details[0].field).toBe('customer_request_ref');
    const wf = await api.call('get', `/api/v1/orders/${id}/workflows`);
    expect(wf.status).toBe(200);
  });

  it('reports delivery as JSON and as CSV', async () => {
    const from = new Date(Date.now() - 86_400_000).toISOString();
    const to = new Date(Date.now() + 86_400_000).toISOString();
    const json = await api.call('get', `/api/v1/reports/delivery?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, { role: 'viewer' });
    expect(json.status).toBe(200);
    expect(json.json.counts).toMatchObject({ orders: 1, delivered: 1, met: 1 });
    expect(json.json.on_time_percentage).toBe(100);
    const csv = await api.call('get', `/api/v1/reports/delivery?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, { role: 'viewer', headers: { accept: 'text/csv' } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.text.split('\r\n')[0]).toMatch(/^order_id,external_id/);
    expect(csv.text.trim().split('\r\n')).toHaveLength(2);
    const bad = await api.call('get', `/api/v1/reports/delivery?from=${encodeURIComponent(to)}&to=${encodeURIComponent(from)}`);
    expect(bad.status).toBe(400);
  });
});
