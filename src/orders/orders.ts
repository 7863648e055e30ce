import { createHash, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import { ConflictError, NotFoundError, UnprocessableError } from '../errors.js';
import { writeAudit, type Actor } from '../db/repositories/audit.js';
import { isUniqueViolation, json, toBool, toIso } from '../db/sql.js';
import { decodeCursor, toPage, type Page } from '../inventory/cursor.js';
import { validateInput } from '../inventory/validate.js';
import { allocate, allocateMachine, freeCapacity } from '../provisioning/allocation.js';
import type { Notifier } from '../notifications/outbox.js';
import { deadlineFor, deliveryStatus, remainingMs, DEFAULT_DELIVERY_WINDOW_HOURS, type DeliveryClockStatus } from './delivery-clock.js';
import { LIVE_ORDER_STATUSES, OrderCreate, OrderListQuery, type OrderListQueryInput, type OrderOutput } from './schemas.js';

export interface OrderServiceDeps {
  knex: Knex;
  clock?: Clock;
  notifier?: Notifier | null;
  /** Remaining time under which an order's clock is `at_risk` (default 4 h). */
  atRiskHours?: number;
  /** Told when an order was allocated here, so a worker (in this process or another) starts its deployment at once. */
  wakeups?: { announce(topic: 'orders'): void } | null;
  /**
   * The boot catalog's OS images, when this process has the boot configuration: an order for
   * another image is refused here instead of failing at deployment.
   */
  knownImages?: readonly string[] | null;
}

/** How far ahead of this clock a payment time may be (the pipeline's clock may run ahead). */
const PAID_AT_SKEW_MS = 5 * 60_000;

/** UnprocessableError naming `os_image` when the catalog is known and lacks it. */
export function checkOsImage(image: string, known: readonly string[] | null | undefined): void {
  if (!known || known.includes(image)) return;
  throw new UnprocessableError(`unknown OS image "${image}"`, { details: [{ field: 'os_image', message: `not in the boot catalog; known images: ${known.join(', ') || 'none'}` }] });
}

/** SHA-256 of the body with keys sorted, so a retry with reordered JSON is still "the same request". */
export function requestHash(body: unknown): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v as object).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, canonical(x)])) : v;
  return createHash('sha256').update(JSON.stringify(canonical(body))).digest('hex');
}

type Row = Record<string, unknown>;

export class OrderService {
  private readonly knex: Knex;
  private readonly clock: Clock;

  constructor(private readonly deps: OrderServiceDeps) {
    this.knex = deps.knex;
    this.clock = deps.clock ?? systemClock;
  }

  /**
   * Records a paid order and tries to allocate a machine at once. The Idempotency-Key makes
   * retries safe: the same key returns the same order (`created: false`) and never takes a
   * second machine; the same key with a different body is a 409.
   */
  async createOrder(body: unknown, idempotencyKey: string, actor: Actor): Promise<{ order: OrderOutput; created: boolean }> {
    const input = validateInput(OrderCreate, body, 'order');
    const hash = requestHash(body);
    const existing = await this.knex('orders').where({ idempotency_key: idempotencyKey }).first();
    if (existing) return { order: await this.sameRequestOrConflict(existing, hash), created: false };
    checkOsImage(input.os_image, this.deps.knownImages);
    if (Date.parse(input.paid_at) > this.clock.now().getTime() + PAID_AT_SKEW_MS) {
      throw new UnprocessableError(`order: paid_at ${input.paid_at} is in the future`, { details: [{ field: 'paid_at', message: 'in the future: the delivery clock starts at payment' }] });
    }
    // A second live order for one external id is a pipeline that lost its Idempotency-Key: two
    // machines for one payment. Checked, not constrained: an order cancelled or failed may be placed again.
    const twin = await this.knex('orders').where({ external_id: input.external_id }).whereIn('status', LIVE_ORDER_STATUSES).first('id', 'status');
    if (twin) {
      throw new ConflictError(`order ${input.external_id} already exists as ${twin.id} (${twin.status}) under another Idempotency-Key`, {
        details: [{ field: 'external_id', message: `already used by order ${twin.id}`, order_id: twin.id }],
      });
    }

    let country = input.country ?? null;
    let siteCode: string | null = null;
    let windowHours = DEFAULT_DELIVERY_WINDOW_HOURS;
    if (input.site) {
      const site = await this.knex('sites').where({ code: input.site }).first();
      if (!site) throw new UnprocessableError(`order: site ${input.site} does not exist`, { details: [{ field: 'site', message: 'unknown site' }] });
      if (country && site.country !== country) {
        throw new UnprocessableError(`order: site ${input.site} is in ${site.country}, not ${country}`, { details: [{ field: 'site', message: `site is in ${site.country}, the order asks for ${country}` }] });
      }
      country = String(site.country);
      siteCode = String(site.code);
      windowHours = Number(site.delivery_window_hours);
    } else {
      const windows = await this.knex('sites').where({ country }).pluck('delivery_window_hours');
      if (windows.length === 0) throw new UnprocessableError(`order: no datacenter in country ${country}`, { details: [{ field: 'country', message: 'no site in this country' }] });
      // The contract promises the shortest window any site of the country offers.
      windowHours = Math.min(...windows.map(Number));
    }

    const now = this.clock.now().toISOString();
    const paidAt = new Date(input.paid_at).toISOString();
    const id = randomUUID();
    const row = {
      id,
      idempotency_key: idempotencyKey,
      request_hash: hash,
      external_id: input.external_id,
      customer_id: input.customer_id,
      contact_email: input.contact_email,
      hardware_profile: input.hardware_profile,
      country,
      site_code: siteCode,
      os_image: input.os_image,
      hostname: input.hostname,
      ssh_keys: json.write(input.ssh_keys),
      root_password_requested: input.root_password,
      support_tier: input.support_tier,
      status: 'received',
      paid_at: paidAt,
      deadline_at: deadlineFor(paidAt, windowHours),
      clock_status: 'on_track',
      created_by: actor.name,
      created_at: now,
      updated_at: now,
    };
    try {
      await this.knex.transaction(async (trx) => {
        await trx('orders').insert(row);
        await writeAudit(trx, actor, { action: 'order.create', targetType: 'order', targetId: id, after: { external_id: input.external_id, customer_id: input.customer_id, country, site: siteCode, hardware_profile: input.hardware_profile } }, now);
        await this.deps.notifier?.enqueue(trx, { event: 'order.received', subjectType: 'order', subjectId: id, data: { order_id: id, external_id: input.external_id } });
      });
    } catch (err) {
      // A concurrent retry with the same key won the insert: answer as a retry.
      if (isUniqueViolation(err)) {
        const winner = await this.knex('orders').where({ idempotency_key: idempotencyKey }).first();
        if (winner) return { order: await this.sameRequestOrConflict(winner, hash), created: false };
      }
      throw err;
    }
    // The row just written is the order: only an allocation changes it before the answer.
    const allocatedAt = this.clock.now().toISOString();
    const machineId = await allocateMachine(this.knex, { orderId: id, hardwareProfile: input.hardware_profile, country: String(country), siteCode }, allocatedAt);
    // Not allocated here: another allocator may have served it meanwhile, so read what it is now.
    if (!machineId) return { order: await this.getOrder(id), created: true };
    this.deps.wakeups?.announce('orders');
    return { order: this.toOutput({ ...row, status: 'allocated', machine_id: machineId, allocated_at: allocatedAt, updated_at: allocatedAt }), created: true };
  }

  /**
   * Gives free machines to waiting orders, oldest payment first within each kind of order (hardware
   * profile and country; kinds never compete for a machine). Returns how many were allocated. Runs
   * on every worker pass and wake-up: with no order waiting it costs one indexed lookup; otherwise it
   * reads the free capacity (one grouped query) and, in one more statement, each kind's oldest orders
   * that a free machine could serve (their site, if they chose one, has one). With nothing free that
   * is two queries however many orders wait, three with free machines nobody waits for, and orders of
   * a sold-out kind or site never hide an order a free machine matches.
   * A site (or, for an order without a site, the whole kind) where an allocation found nothing is
   * not tried again in the same pass; a pass that allocated is followed at once by another.
   */
  async allocateWaiting(): Promise<number> {
    if (!(await this.knex('orders').where({ status: 'received' }).first('id'))) return 0;
    const kinds = await freeCapacity(this.knex);
    if (kinds.length === 0) return 0;
    // Each kind's oldest orders, twice its free machines' worth (some are served or cancelled
    // meanwhile, some wait for a site that fills up), all kinds in one statement.
    const perKind = kinds.map((kind, i) =>
      this.knex
        .select('*')
        .from(
          this.knex('orders')
            .where({ status: 'received', hardware_profile: kind.hardwareProfile, country: kind.country })
            .andWhere((site) => site.whereNull('site_code').orWhereIn('site_code', kind.sites))
            .orderBy([{ column: 'paid_at' }, { column: 'id' }])
            .limit(Math.min(500, 2 * kind.machines))
            .select('id', 'hardware_profile', 'country', 'site_code', 'paid_at')
            .as(`k${i}`),
        ),
    );
    const rows = (await this.knex.unionAll(perKind)) as { id: string; hardware_profile: string; country: string; site_code: string | null; paid_at: unknown }[];
    const waiting = rows.map((r) => ({ ...r, paid: toIso(r.paid_at)! })).sort((x, y) => (x.paid < y.paid ? -1 : x.paid > y.paid ? 1 : x.id < y.id ? -1 : 1));
    let n = 0;
    for (const kind of kinds) {
      const full = new Set<string>();
      for (const o of waiting) {
        if (o.hardware_profile !== kind.hardwareProfile || o.country !== kind.country) continue;
        if (o.site_code !== null && full.has(o.site_code)) continue;
        const outcome = await allocate(this.knex, { orderId: o.id, hardwareProfile: kind.hardwareProfile, country: kind.country, siteCode: o.site_code }, this.clock.now().toISOString());
        if (outcome.machineId !== null) n++;
        else if (outcome.reason === 'no_machine') {
          // Nothing left at the order's site, or (an order without a site) anywhere in the country.
          if (o.site_code === null) break;
          full.add(o.site_code);
        }
      }
    }
    return n;
  }

  async getOrder(id: string): Promise<OrderOutput> {
    const row = await this.knex('orders').where({ id }).first();
    if (!row) throw new NotFoundError(`order ${id} not found`);
    return this.toOutput(row);
  }

  async listOrders(query: OrderListQueryInput): Promise<Page<OrderOutput>> {
    const q = validateInput(OrderListQuery, query, 'query');
    const b = this.knex('orders').orderBy([{ column: 'created_at', order: 'asc' }, { column: 'id', order: 'asc' }]).limit(q.limit + 1);
    if (q.status) b.where('status', q.status);
    if (q.clock_status) b.where('clock_status', q.clock_status);
    if (q.customer) b.where('customer_id', q.customer);
    if (q.site) {
      b.where((w) => w.where('site_code', q.site!).orWhereIn('machine_id', this.knex('machines').join('sites', 'sites.id', 'machines.site_id').where('sites.code', q.site!).select('machines.id')));
    }
    if (q.cursor) {
      const [createdAt, id] = decodeCursor(q.cursor, 2) as [string, string];
      b.where((w) => w.where('created_at', '>', createdAt).orWhere((x) => x.where('created_at', createdAt).andWhere('id', '>', id)));
    }
    const rows = (await b) as Row[];
    return toPage(rows, q.limit, (r) => [toIso(r.created_at)!, String(r.id)], (r) => this.toOutput(r));
  }

  /** Cancels an order that has not been delivered; an allocated, undeployed machine goes back to available. */
  async cancelOrder(id: string, actor: Actor, reason?: string): Promise<OrderOutput> {
    const now = this.clock.now().toISOString();
    await this.knex.transaction(async (trx) => {
      const row = await trx('orders').where({ id }).first();
      if (!row) throw new NotFoundError(`order ${id} not found`);
      if (!['received', 'allocated'].includes(String(row.status))) {
        throw new ConflictError(`order ${id} is ${row.status}: only received or allocated orders can be cancelled (terminate a delivered one)`, { details: { status: row.status } });
      }
      const updated = await trx('orders').where({ id, status: row.status }).update({ status: 'cancelled', cancelled_at: now, updated_at: now });
      if (updated !== 1) throw new ConflictError(`order ${id} changed while cancelling; retry`);
      if (row.machine_id) {
        await trx('machines').where({ id: row.machine_id, order_id: id, provision_state: 'allocated' }).update({ provision_state: 'available', order_id: null, updated_at: now });
      }
      await writeAudit(trx, actor, { action: 'order.cancel', targetType: 'order', targetId: id, before: { status: row.status }, after: { status: 'cancelled' }, reason: reason ?? null }, now);
      await this.deps.notifier?.enqueue(trx, { event: 'order.cancelled', subjectType: 'order', subjectId: id, data: { order_id: id, external_id: row.external_id } });
    });
    return this.getOrder(id);
  }

  /**
   * Recomputes every open order's clock and publishes each change of status as an event.
   * Returns the orders whose status changed.
   */
  async tickClocks(): Promise<{ id: string; from: string; to: DeliveryClockStatus }[]> {
    const now = this.clock.now();
    const rows = (await this.knex('orders').whereNotIn('clock_status', ['met', 'missed']).whereNotIn('status', ['cancelled'])) as Row[];
    const changes: { id: string; from: string; to: DeliveryClockStatus }[] = [];
    for (const r of rows) {
      const to = this.clockStatusOf(r, now);
      if (to === r.clock_status) continue;
      await this.knex.transaction(async (trx) => {
        // Conditional: only one process publishes a given change.
        const n = await trx('orders').where({ id: r.id, clock_status: r.clock_status }).update({ clock_status: to, updated_at: now.toISOString() });
        if (n !== 1) return;
        await this.deps.notifier?.enqueue(trx, { event: 'order.clock_changed', subjectType: 'order', subjectId: String(r.id), data: { order_id: r.id, external_id: r.external_id, from: r.clock_status, to, deadline_at: toIso(r.deadline_at) } });
        changes.push({ id: String(r.id), from: String(r.clock_status), to });
      });
    }
    return changes;
  }

  private clockStatusOf(r: Row, now: Date): DeliveryClockStatus {
    return deliveryStatus({ paidAt: toIso(r.paid_at)!, deadlineAt: toIso(r.deadline_at)!, deliveredAt: toIso(r.delivered_at), stoppedAt: toIso(r.cancelled_at) }, now, this.deps.atRiskHours);
  }

  private async sameRequestOrConflict(row: Row, hash: string): Promise<OrderOutput> {
    if (row.request_hash !== hash) {
      throw new ConflictError('Idempotency-Key was already used for a different order body', { details: { reason: 'idempotency_key_reused', order_id: row.id } });
    }
    return this.toOutput(row);
  }

  private toOutput(r: Row): OrderOutput {
    const now = this.clock.now();
    const clock = { paidAt: toIso(r.paid_at)!, deadlineAt: toIso(r.deadline_at)!, deliveredAt: toIso(r.delivered_at), stoppedAt: toIso(r.cancelled_at) };
    const left = remainingMs(clock, now);
    return {
      id: String(r.id),
      external_id: String(r.external_id),
      customer_id: String(r.customer_id),
      contact_email: String(r.contact_email),
      hardware_profile: String(r.hardware_profile),
      country: String(r.country),
      site: (r.site_code as string | null) ?? null,
      os_image: String(r.os_image),
      hostname: String(r.hostname),
      ssh_key_count: json.read<string[]>(r.ssh_keys, []).length,
      root_password: toBool(r.root_password_requested),
      support_tier: r.support_tier as OrderOutput['support_tier'],
      status: r.status as OrderOutput['status'],
      machine_id: (r.machine_id as string | null) ?? null,
      miss_cause: (r.miss_cause as string | null) ?? null,
      suspended: toBool(r.suspended),
      delivery_clock: {
        paid_at: clock.paidAt,
        deadline_at: clock.deadlineAt,
        delivered_at: clock.deliveredAt,
        status: deliveryStatus(clock, now, this.deps.atRiskHours),
        remaining_seconds: left === null ? null : Math.round(left / 1000),
      },
      created_at: toIso(r.created_at)!,
      updated_at: toIso(r.updated_at)!,
    };
  }
}
