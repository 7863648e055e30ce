import { z } from '../zod.js';
import { InputError } from '../../errors.js';
import { Order, OrderCreate, OrderListQuery, OrderPage } from '../../orders/schemas.js';
import { buildDeliveryReport, deliveryReportCsv, loadReportOrders } from '../../orders/delivery-report.js';
import { workflowHistory } from '../../provisioning/workflows/engine.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

const PIPELINE = ['admin', 'pipeline'] as const;
const OrderParams = z.object({ id: z.string().min(1).max(64) }).strict();

const IdempotencyKey = /^[A-Za-z0-9._:-]{8,200}$/;

const ConsentBody = (name: string) =>
  z
    .object({
      customer_request_ref: z.string().max(200).optional().openapi({ description: "Reference of the customer's express request (ticket, signed form). Required: without it the request is refused with 422." }),
      reason: z.string().max(1000).optional(),
      ...(name === 'ReinstallRequest' ? { os_image: z.string().min(1).max(64).optional() } : {}),
    })
    .strict()
    .openapi(name);

const WorkflowAccepted = z.object({ workflow_id: z.string() }).openapi('WorkflowAccepted');

const StepHistory = z
  .object({
    step: z.string(),
    step_index: z.number().int(),
    attempt: z.number().int(),
    outcome: z.string(),
    worker: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    detail: z.string().nullable(),
  })
  .openapi('WorkflowStep');

const WorkflowView = z
  .object({
    id: z.string(),
    kind: z.string(),
    machine_id: z.string(),
    status: z.string(),
    current_step: z.number().int(),
    last_error: z.string().nullable(),
    created_at: z.string(),
    finished_at: z.string().nullable(),
    steps: z.array(StepHistory),
  })
  .openapi('Workflow');

const Credentials = z
  .object({ username: z.string(), password: z.string().nullable().optional(), ssh_keys_only: z.boolean().optional() })
  .openapi('DeliveredCredentials');

const ReportQuery = z
  .object({
    from: z.iso.datetime({ offset: true }).openapi({ example: '2026-11-01T00:00:00Z' }),
    to: z.iso.datetime({ offset: true }).openapi({ example: '2026-12-01T00:00:00Z' }),
  })
  .strict()
  .openapi('DeliveryReportQuery');

const DeliveryReport = z
  .object({
    from: z.string(),
    to: z.string(),
    generated_at: z.string(),
    counts: z.record(z.string(), z.number()),
    on_time_percentage: z.number().nullable(),
    delivery_time_seconds: z.object({ p50: z.number().nullable(), p95: z.number().nullable(), max: z.number().nullable() }),
    misses: z.array(
      z.object({
        order_id: z.string(),
        external_id: z.string(),
        customer_id: z.string(),
        status: z.string(),
        cause: z.string(),
        paid_at: z.string(),
        deadline_at: z.string(),
        delivered_at: z.string().nullable(),
      }),
    ),
  })
  .openapi('DeliveryReport');

export const orderRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/api/v1/orders',
    summary: 'Place a paid order (idempotent with the Idempotency-Key header)',
    description:
      'Anvil allocates an available, healthy machine of the hardware profile in a site of the order\'s country (data residency) and provisions it; the delivery clock runs from paid_at. A retry with the same Idempotency-Key returns the same order; the same key with another body is a 409.',
    tags: ['orders'],
    roles: PIPELINE,
    request: { body: OrderCreate },
    responses: {
      201: { description: 'Order recorded (and allocated when a machine was free)', schema: Order },
      200: { description: 'A retry of an order already recorded with this Idempotency-Key', schema: Order },
      409: { description: 'Idempotency-Key reused with a different body' },
      422: { description: 'No datacenter in the country, or the site contradicts the country' },
    },
    async handler({ body, services, actor, req }) {
      const key = req.get('idempotency-key');
      if (!key) {
        throw new InputError('Idempotency-Key header is required (8-200 characters: letters, digits, . _ : -)', { details: [{ field: 'Idempotency-Key', message: 'required header', in: 'header' }] });
      }
      if (!IdempotencyKey.test(key)) {
        const problem = key.length < 8 || key.length > 200 ? `must be 8-200 characters long (got ${key.length})` : 'may contain only letters, digits, . _ : -';
        throw new InputError(`invalid Idempotency-Key header: ${problem}`, { details: [{ field: 'Idempotency-Key', message: problem, in: 'header' }] });
      }
      const { order, created } = await services.orders.createOrder(body, key, actor);
      return { status: created ? 201 : 200, body: order, headers: { location: `/api/v1/orders/${order.id}` } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/orders',
    summary: 'List orders (filters: status, clock_status, site, customer), cursor pagination',
    tags: ['orders'],
    roles: ROLES.readers,
    request: { query: OrderListQuery },
    responses: { 200: { description: 'A page of orders', schema: OrderPage } },
    async handler({ query, services }) {
      return { status: 200, body: await services.orders.listOrders(query) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/orders/:id',
    summary: 'Get an order with its delivery clock',
    tags: ['orders'],
    roles: ROLES.readers,
    request: { params: OrderParams },
    responses: { 200: { description: 'The order', schema: Order }, 404: { description: 'No such order' } },
    async handler({ params, services }) {
      return { status: 200, body: await services.orders.getOrder(params.id) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/orders/:id/cancel',
    summary: 'Cancel an order that is not delivered yet',
    tags: ['orders'],
    roles: PIPELINE,
    request: { params: OrderParams, body: z.object({ reason: z.string().max(1000).optional() }).strict().openapi('CancelRequest') },
    responses: { 200: { description: 'The cancelled order', schema: Order }, 409: { description: 'Already delivered (terminate instead)' } },
    async handler({ params, body, services, actor }) {
      return { status: 200, body: await services.orders.cancelOrder(params.id, actor, body.reason) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/orders/:id/terminate',
    summary: "End the service at the customer's request: the machine is wiped and returned to the pool",
    tags: ['orders'],
    roles: PIPELINE,
    request: { params: OrderParams, body: ConsentBody('TerminateRequest') },
    responses: { 202: { description: 'Release workflow started', schema: WorkflowAccepted }, 409: { description: 'Not delivered' }, 422: { description: 'customer_request_ref missing' } },
    async handler({ params, body, services, actor }) {
      const { workflowId } = await services.lifecycle.terminate(params.id, body, actor);
      return { status: 202, body: { workflow_id: workflowId } };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/orders/:id/reinstall',
    summary: "Reinstall the OS at the customer's request (erases the disks; new credentials are delivered)",
    tags: ['orders'],
    roles: PIPELINE,
    request: { params: OrderParams, body: ConsentBody('ReinstallRequest') },
    responses: { 202: { description: 'Deploy workflow started', schema: WorkflowAccepted }, 409: { description: 'Not delivered, or suspended' }, 422: { description: 'customer_request_ref missing' } },
    async handler({ params, body, services, actor }) {
      const { workflowId } = await services.lifecycle.reinstall(params.id, body, actor);
      return { status: 202, body: { workflow_id: workflowId } };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/orders/:id/suspend',
    summary: 'Security interruption: power the server off and refuse power-on until restored',
    tags: ['orders'],
    roles: ['admin', 'technician', 'pipeline'],
    request: { params: OrderParams, body: z.object({ reason: z.string().min(3).max(1000) }).strict().openapi('SuspendRequest') },
    responses: { 204: { description: 'Suspended and powered off' }, 409: { description: 'Not delivered' } },
    async handler({ params, body, services, actor }) {
      await services.lifecycle.suspend(params.id, body, actor);
      return { status: 204 };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/orders/:id/restore',
    summary: 'Lift a suspension and power the server on',
    tags: ['orders'],
    roles: ['admin', 'technician', 'pipeline'],
    request: { params: OrderParams, body: z.object({ reason: z.string().max(1000).optional() }).strict().openapi('RestoreRequest') },
    responses: { 204: { description: 'Restored and powered on' }, 409: { description: 'Not suspended' } },
    async handler({ params, body, services, actor }) {
      await services.lifecycle.restore(params.id, body, actor);
      return { status: 204 };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/orders/:id/credentials',
    summary: 'The delivered access, until the pipeline acknowledges delivery',
    tags: ['orders'],
    roles: PIPELINE,
    request: { params: OrderParams },
    responses: { 200: { description: 'Credentials', schema: Credentials }, 403: { description: 'Delivery acknowledged: credentials are no longer kept' }, 409: { description: 'Not delivered yet' } },
    async handler({ params, services }) {
      return { status: 200, body: await services.lifecycle.credentials(params.id), headers: { 'cache-control': 'no-store' } };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/orders/:id/acknowledge',
    summary: 'Acknowledge delivery: the stored credentials are erased and never shown again',
    tags: ['orders'],
    roles: PIPELINE,
    request: { params: OrderParams },
    responses: { 204: { description: 'Acknowledged' } },
    async handler({ params, services, actor }) {
      await services.lifecycle.acknowledgeDelivery(params.id, actor);
      return { status: 204 };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/orders/:id/workflows',
    summary: "The order's workflows (deploy, reinstall, release) with their step history",
    tags: ['orders'],
    roles: ROLES.readers,
    request: { params: OrderParams },
    responses: { 200: { description: 'Workflows, oldest first', schema: z.object({ items: z.array(WorkflowView) }).openapi('WorkflowList') } },
    async handler({ params, services }) {
      await services.orders.getOrder(params.id);
      const rows = await services.knex('workflows').where({ order_id: params.id }).orderBy('created_at');
      const items = [];
      for (const r of rows) {
        items.push({
          id: String(r.id),
          kind: String(r.kind),
          machine_id: String(r.machine_id),
          status: String(r.status),
          current_step: Number(r.step_index),
          last_error: (r.last_error as string | null) ?? null,
          created_at: new Date(r.created_at).toISOString(),
          finished_at: r.finished_at ? new Date(r.finished_at).toISOString() : null,
          steps: await workflowHistory(services.knex, String(r.id)),
        });
      }
      return { status: 200, body: { items } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/reports/delivery',
    summary: 'Delivery report for orders paid in [from, to): on-time %, p50/p95/max, every miss with its cause (JSON, or CSV with Accept: text/csv)',
    tags: ['reports'],
    roles: ROLES.readers,
    request: { query: ReportQuery },
    responses: {
      200: { description: 'The report (JSON), or one CSV row per order with Accept: text/csv', schema: DeliveryReport },
    },
    async handler({ query, services, req }) {
      const from = new Date(query.from).toISOString();
      const to = new Date(query.to).toISOString();
      if (from >= to) throw new InputError('query: to must be after from', { details: [{ field: 'to', message: 'must be after from', in: 'query' }] });
      const orders = await loadReportOrders(services.knex, from, to);
      const now = services.clock.now();
      if (req.accepts(['application/json', 'text/csv']) === 'text/csv') {
        return { status: 200, text: deliveryReportCsv(orders, now), contentType: 'text/csv; charset=utf-8', headers: { 'content-disposition': `attachment; filename="delivery-${from.slice(0, 10)}-${to.slice(0, 10)}.csv"` } };
      }
      return { status: 200, body: buildDeliveryReport(orders, from, to, now) };
    },
  }),
];
