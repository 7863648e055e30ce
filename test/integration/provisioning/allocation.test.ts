import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { allocateMachine } from '../../../src/provisioning/allocation.js';
import { OrderService } from '../../../src/orders/orders.js';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import { createTestDatabase } from '../../support/databases.js';
import { tsNodeArgs } from '../../support/ts-child.js';

const now = () => new Date().toISOString();

async function seed(knex: Knex): Promise<void> {
  const ts = now();
  await knex('sites').insert([
    { id: 'ma', code: 'MA-NOU1', name: 'Nouacer', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca', created_at: ts, updated_at: ts },
    { id: 'ma2', code: 'MA-CAS1', name: 'Casablanca', country: 'MA', city: 'Casablanca', timezone: 'Africa/Casablanca', created_at: ts, updated_at: ts },
    { id: 'ca', code: 'CA-MTL1', name: 'Montreal', country: 'CA', city: 'Montreal', timezone: 'America/Toronto', created_at: ts, updated_at: ts },
  ]);
  const machines = [];
  for (let i = 0; i < 10; i++) machines.push({ id: `ma-${i}`, serial: `MA${i}`, hardware_profile: 'std', site_id: i < 6 ? 'ma' : 'ma2', provision_state: 'available', health: 'ok', maintenance: false, created_at: ts, updated_at: ts });
  for (let i = 0; i < 5; i++) machines.push({ id: `ca-${i}`, serial: `CA${i}`, hardware_profile: 'std', site_id: 'ca', provision_state: 'available', health: 'ok', maintenance: false, created_at: ts, updated_at: ts });
  machines.push({ id: 'ma-broken', serial: 'MAB', hardware_profile: 'std', site_id: 'ma', provision_state: 'available', health: 'failed', maintenance: false, created_at: ts, updated_at: ts });
  machines.push({ id: 'ma-maint', serial: 'MAM', hardware_profile: 'std', site_id: 'ma', provision_state: 'available', health: 'ok', maintenance: true, created_at: ts, updated_at: ts });
  machines.push({ id: 'ma-other', serial: 'MAO', hardware_profile: 'big', site_id: 'ma', provision_state: 'available', health: 'ok', maintenance: false, created_at: ts, updated_at: ts });
  await knex('machines').insert(machines);
}

async function insertOrders(knex: Knex, prefix: string, n: number, country: string, profile = 'std', paidAt = now()): Promise<string[]> {
  const ts = now();
  const rows = Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`, idempotency_key: `${prefix}-${i}`, request_hash: 'h', external_id: `${prefix}-${i}`, customer_id: 'c1',
    contact_email: 'ops@example.com', hardware_profile: profile, country, os_image: 'debian-12', hostname: `h${i}`, support_tier: 'managed',
    paid_at: paidAt, deadline_at: ts, created_by: 'test', created_at: ts, updated_at: ts,
  }));
  await knex.batchInsert('orders', rows, 50);
  return rows.map((r) => r.id);
}

describe.each(testDatabases())('allocation on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  beforeAll(async () => seed(t.knex));

  it('with 50 concurrent orders for 10 matching machines, allocates exactly 10 and leaves 40 waiting', async () => {
    const orders = await insertOrders(t.knex, 'ma', 50, 'MA');
    const results = await Promise.all(orders.map((id) => allocateMachine(t.knex, { orderId: id, hardwareProfile: 'std', country: 'MA' }, now())));
    const taken = results.filter((r): r is string => r !== null);
    expect(taken).toHaveLength(10);
    expect(new Set(taken).size).toBe(10);
    expect(taken.every((m) => m.startsWith('ma-') && !['ma-broken', 'ma-maint'].includes(m))).toBe(true);

    const waiting = await t.knex('orders').where({ status: 'received' }).whereIn('id', orders).count({ n: '*' });
    expect(Number(waiting[0]!.n)).toBe(40);
    const machines = await t.knex('machines').whereIn('id', taken);
    for (const m of machines) {
      expect(m.provision_state).toBe('allocated');
      const order = await t.knex('orders').where({ id: m.order_id }).first();
      expect(order.machine_id).toBe(m.id);
    }
  });

  it('never gives a Moroccan order a Canadian machine, even when Morocco is full', async () => {
    const [extra] = await insertOrders(t.knex, 'ma-late', 1, 'MA');
    expect(await allocateMachine(t.knex, { orderId: extra!, hardwareProfile: 'std', country: 'MA' }, now())).toBeNull();
    const ca = await t.knex('machines').where('id', 'like', 'ca-%').pluck('provision_state');
    expect(ca.every((s: string) => s === 'available')).toBe(true);
  });

  it('serves a Canadian order in Canada and respects a chosen site', async () => {
    const [order] = await insertOrders(t.knex, 'ca', 1, 'CA');
    const machine = await allocateMachine(t.knex, { orderId: order!, hardwareProfile: 'std', country: 'CA', siteCode: 'CA-MTL1' }, now());
    expect(machine).toMatch(/^ca-/);
    const [wrongSite] = await insertOrders(t.knex, 'ca-wrong', 1, 'CA');
    expect(await allocateMachine(t.knex, { orderId: wrongSite!, hardwareProfile: 'std', country: 'CA', siteCode: 'MA-NOU1' }, now())).toBeNull();
  });

  it('does not allocate a second machine to an order that already has one', async () => {
    const [order] = await insertOrders(t.knex, 'ca-twice', 1, 'CA');
    const first = await allocateMachine(t.knex, { orderId: order!, hardwareProfile: 'std', country: 'CA' }, now());
    expect(first).not.toBeNull();
    expect(await allocateMachine(t.knex, { orderId: order!, hardwareProfile: 'std', country: 'CA' }, now())).toBeNull();
    expect(await t.knex('machines').where({ order_id: order }).count({ n: '*' }).then((r) => Number(r[0]!.n))).toBe(1);
  });
});

const run = promisify(execFile);

describe.each(testDatabases())('allocation by two Anvil processes on %s', (dialect) => {
  it('gives 10 matching machines to exactly 10 of 50 orders placed through two processes at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anvil-alloc-'));
    // Two processes need a shared database: a file for SQLite, a schema for PostgreSQL.
    const db = await createTestDatabase(dialect, dialect === 'sqlite' ? { file: join(dir, 'anvil.sqlite') } : {});
    try {
      await seed(db.knex);
      const orders = await insertOrders(db.knex, 'p', 50, 'MA');
      const halves = [orders.slice(0, 25), orders.slice(25)];
      const outputs = await Promise.all(halves.map((ids) => run(process.execPath, tsNodeArgs('test/support/allocate-child.ts', [db.url, ...ids]), { timeout: 60_000 })));
      const results: Record<string, string | null> = Object.assign({}, ...outputs.map((o) => JSON.parse(o.stdout.trim())));
      const taken = Object.values(results).filter((m): m is string => m !== null);
      expect(taken).toHaveLength(10);
      expect(new Set(taken).size).toBe(10);
      expect(taken.every((m) => m.startsWith('ma-'))).toBe(true);
      const waiting = await db.knex('orders').where({ status: 'received' }).count({ n: '*' });
      expect(Number(waiting[0]!.n)).toBe(40);
    } finally {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe.each(testDatabases())('allocating waiting orders on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  let orders: OrderService;
  beforeAll(async () => {
    await seed(t.knex);
    orders = new OrderService({ knex: t.knex });
  });

  it('costs one query while nothing waits, two while nothing is free, three with free machines nobody waits for, and never lets orders for a sold-out profile hide a later order a free machine matches', async () => {
    /** allocateWaiting's result and how many statements it sent. */
    const counted = async (): Promise<[number, number]> => {
      let n = 0;
      const count = () => n++;
      t.knex.on('query', count);
      try {
        return [await orders.allocateWaiting(), n];
      } finally {
        t.knex.off('query', count);
      }
    };
    expect(await counted()).toEqual([0, 1]);
    // Every 'std' machine is taken, 150 orders for it wait (paid first), then one 'big' order.
    await t.knex('machines').where({ hardware_profile: 'std' }).update({ provision_state: 'maintenance_hold' });
    await insertOrders(t.knex, 'sold-out', 150, 'MA', 'std', '2026-11-26T08:00:00.000Z');
    const [big] = await insertOrders(t.knex, 'big', 1, 'MA', 'big', '2026-11-26T09:00:00.000Z');
    await t.knex('machines').where({ id: 'ma-other' }).update({ maintenance: true });

    expect(await counted()).toEqual([0, 2]);
    // A free machine of a kind nobody waits for (Canadian 'std') adds one statement, whatever the kinds.
    await t.knex('machines').where({ id: 'ca-1' }).update({ provision_state: 'available' });
    expect(await counted()).toEqual([0, 3]);
    await t.knex('machines').where({ id: 'ca-1' }).update({ provision_state: 'maintenance_hold' });

    // The 'big' machine leaves maintenance: the newest waiting order, behind 150 older ones, gets it.
    await t.knex('machines').where({ id: 'ma-other' }).update({ maintenance: false });
    expect(await orders.allocateWaiting()).toBe(1);
    expect(await t.knex('orders').where({ id: big }).first('status', 'machine_id')).toEqual({ status: 'allocated', machine_id: 'ma-other' });
    expect(Number((await t.knex('orders').where({ status: 'received' }).count({ n: '*' }))[0]!.n)).toBe(150);
  });

  it('is not held up by orders of a profile free only in another country, or at another site', async () => {
    await t.knex('orders').where({ status: 'received' }).update({ status: 'cancelled' });
    // Free: 'std' in Canada only (ca-0); 'big' in Morocco only (ma-other). 600 Moroccan 'std' orders
    // and 600 Canadian 'std' orders for a site with nothing free wait first; then one Moroccan 'big'.
    await t.knex('machines').where({ hardware_profile: 'std' }).update({ provision_state: 'maintenance_hold' });
    await t.knex('machines').whereIn('id', ['ca-0', 'ma-other']).update({ provision_state: 'available', maintenance: false, order_id: null });
    await insertOrders(t.knex, 'ma-std', 600, 'MA', 'std', '2026-11-26T05:00:00.000Z');
    const ca = await insertOrders(t.knex, 'ca-std-site', 600, 'CA', 'std', '2026-11-26T05:30:00.000Z');
    await t.knex('orders').whereIn('id', ca).update({ site_code: 'CA-QC9' });
    const [big] = await insertOrders(t.knex, 'ma-big', 1, 'MA', 'big', '2026-11-26T06:00:00.000Z');
    expect(await orders.allocateWaiting()).toBe(1);
    expect(await t.knex('orders').where({ id: big }).first('status', 'machine_id')).toEqual({ status: 'allocated', machine_id: 'ma-other' });
    expect(await t.knex('machines').where({ id: 'ca-0' }).first('provision_state')).toEqual({ provision_state: 'available' });
  });

  it('gives an order that chose a site a machine there while one is free, whichever site the older orders got', async () => {
    // Two free Moroccan machines, one per site. Oldest: an order for any Moroccan site; then one for
    // Casablanca; then another for any site. Whichever machine the first order gets (the allocator
    // starts at a random candidate), Casablanca's order must not lose a free Casablanca machine to
    // the newest order. Ten rounds, so both of the first order's choices are seen.
    for (let round = 0; round < 10; round++) {
      await t.knex('orders').where({ status: 'received' }).update({ status: 'cancelled' });
      await t.knex('orders').where({ status: 'allocated' }).update({ status: 'cancelled' });
      await t.knex('machines').update({ provision_state: 'maintenance_hold', order_id: null });
      await t.knex('machines').whereIn('id', ['ma-0', 'ma-6']).update({ provision_state: 'available' }); // MA-NOU1, MA-CAS1
      const [any1] = await insertOrders(t.knex, `r${round}-any1`, 1, 'MA', 'std', '2026-11-26T01:00:00.000Z');
      const [cas] = await insertOrders(t.knex, `r${round}-cas`, 1, 'MA', 'std', '2026-11-26T02:00:00.000Z');
      const [any2] = await insertOrders(t.knex, `r${round}-any2`, 1, 'MA', 'std', '2026-11-26T03:00:00.000Z');
      await t.knex('orders').where({ id: cas }).update({ site_code: 'MA-CAS1' });
      expect(await orders.allocateWaiting()).toBe(2);
      const got = Object.fromEntries((await t.knex('orders').whereIn('id', [any1!, cas!, any2!]).select('id', 'machine_id')).map((r: { id: string; machine_id: string | null }) => [r.id, r.machine_id]));
      expect(got[any1!]).not.toBeNull();
      if (got[any1!] === 'ma-0') expect([got[cas!], got[any2!]]).toEqual(['ma-6', null]);
      else expect([got[any1!], got[cas!], got[any2!]]).toEqual(['ma-6', null, 'ma-0']);
    }
  });

  it('serves waiting orders oldest payment first, within the country and site they chose', async () => {
    await t.knex('orders').where({ status: 'received' }).update({ status: 'cancelled' });
    const late = await insertOrders(t.knex, 'ca-late', 3, 'CA', 'std', '2026-11-26T10:00:00.000Z');
    const early = await insertOrders(t.knex, 'ca-early', 3, 'CA', 'std', '2026-11-26T07:00:00.000Z');
    const [wrongSite] = await insertOrders(t.knex, 'ca-site', 1, 'CA', 'std', '2026-11-26T06:00:00.000Z');
    await t.knex('orders').where({ id: wrongSite }).update({ site_code: 'CA-QC9' });
    // Four Canadian machines are free (ca-0..ca-3; ca-4 stays busy).
    await t.knex('machines').whereIn('id', ['ca-0', 'ca-1', 'ca-2', 'ca-3']).update({ provision_state: 'available' });
    expect(await orders.allocateWaiting()).toBe(4);
    const statuses = Object.fromEntries((await t.knex('orders').whereIn('id', [...early, ...late, wrongSite!]).select('id', 'status')).map((r: { id: string; status: string }) => [r.id, r.status]));
    expect(early.map((id) => statuses[id])).toEqual(['allocated', 'allocated', 'allocated']);
    expect(late.map((id) => statuses[id]).filter((s) => s === 'allocated')).toHaveLength(1);
    expect(statuses[wrongSite!]).toBe('received');
    expect(await t.knex('machines').where({ provision_state: 'allocated' }).where('id', 'like', 'ca-%').count({ n: '*' }).first()).toEqual({ n: dialect === 'sqlite' ? 4 : '4' });
  });
});
