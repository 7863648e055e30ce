import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock.js';
import { InputError } from '../errors.js';
import { UnsupportedMediaTypeError } from './errors.js';
import { InventoryService } from '../inventory/service.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { TokenService } from '../tokens/service.js';
import { defaultBmcRegistry } from '../bmc/registry.js';
import { OrderService } from '../orders/orders.js';
import { OrderLifecycle } from '../orders/lifecycle.js';
import { MachineOperations } from '../provisioning/machine-operations.js';
import { createHealthServices } from '../health/services.js';
import { AnvilMetrics } from '../metrics/metrics.js';
import { authorize } from './auth.js';
import { errorHandler, notFoundHandler } from './error-handler.js';
import { requestId } from './request-id.js';
import { allRoutes } from './routes/index.js';
import type { AnyRoute, ApiServices, Reply } from './route.js';
import { rejectNul, validate } from './validate.js';

export interface AppDeps {
  knex: Knex;
  secrets: SecretBox;
  logger: Logger;
  clock?: Clock;
  /** Defaults to every capability's routes (`allRoutes()`). */
  routes?: readonly AnyRoute[];
  /** Limit for JSON bodies (default 1mb). */
  jsonLimit?: string;
  /** Limit for YAML/text bodies such as an inventory import (default 10mb). */
  textLimit?: string;
  /** Overrides for tests; built from knex/secrets/clock otherwise. */
  services?: Partial<ApiServices>;
}

/** Order and BMC services without notifications (serve passes the configured ones). */
function defaultCapabilities(deps: AppDeps, clock: Clock): Pick<ApiServices, 'orders' | 'lifecycle' | 'machines' | 'health' | 'metrics' | 'metricsToken'> {
  const inventory = deps.services?.inventory ?? new InventoryService({ knex: deps.knex, secrets: deps.secrets, clock });
  const metrics = deps.services?.metrics ?? new AnvilMetrics({ knex: deps.knex });
  const machines = deps.services?.machines ?? new MachineOperations({ knex: deps.knex, inventory, registry: defaultBmcRegistry, clock });
  return {
    machines,
    orders: deps.services?.orders ?? new OrderService({ knex: deps.knex, clock }),
    lifecycle: deps.services?.lifecycle ?? new OrderLifecycle({ knex: deps.knex, bmcs: machines, secrets: deps.secrets, clock }),
    health: deps.services?.health ?? createHealthServices({ knex: deps.knex, secrets: deps.secrets, clock, onSweepFinished: (sweep) => metrics.observeSweep(sweep) }),
    metrics,
    metricsToken: deps.services?.metricsToken ?? null,
  };
}

/**
 * Builds the express app: request ids, per-route auth, body parsing and validation from the
 * route table, JSON errors. It does not listen; `anvil serve` does.
 */
export function createApp(deps: AppDeps): Express {
  const clock = deps.clock ?? systemClock;
  const services: ApiServices = {
    knex: deps.knex,
    clock,
    secrets: deps.secrets,
    inventory: deps.services?.inventory ?? new InventoryService({ knex: deps.knex, secrets: deps.secrets, clock }),
    tokens: deps.services?.tokens ?? new TokenService({ knex: deps.knex, clock }),
    ...defaultCapabilities(deps, clock),
  };
  const routes = deps.routes ?? allRoutes();
  const app = express();
  app.locals.routes = routes;
  app.locals.services = services;
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(requestId(deps.logger));
  for (const route of routes) bindRoute(app, route, services, { json: deps.jsonLimit ?? '1mb', text: deps.textLimit ?? '10mb' });
  app.use(notFoundHandler(routes));
  app.use(errorHandler(deps.logger));
  return app;
}

function bindRoute(app: Express, route: AnyRoute, services: ApiServices, limits: { json: string; text: string }): void {
  const what = `${route.method.toUpperCase()} ${route.path}`;
  const alt = route.altCredential ? { check: route.altCredential, services } : undefined;
  const handlers: RequestHandler[] = [authorize(services.tokens, route.roles, what, alt)];
  if (route.request?.body) {
    handlers.push(express.json({ limit: limits.json, strict: true, type: ['application/json', 'application/*+json'] }));
    const textTypes = route.request.textBodyTypes ?? [];
    if (textTypes.length > 0) handlers.push(express.text({ limit: limits.text, type: textTypes }));
    handlers.push(requireParsedBody(['application/json', ...textTypes]));
  }
  handlers.push(async (req: Request, res: Response) => {
    rejectNul(req.params, 'params');
    rejectNul(req.query, 'query');
    // A text body (the YAML import) is checked by its parser, which can name the line.
    if (typeof req.body !== 'string') rejectNul(req.body, 'body');
    const params = route.request?.params ? validate(route.request.params, req.params, 'params') : {};
    const query = route.request?.query ? validate(route.request.query, req.query, 'query') : rejectQuery(req.query);
    const body = route.request?.body ? validate(route.request.body, req.body, 'body') : undefined;
    const reply = await route.handler({
      params,
      query,
      body,
      principal: req.principal ?? null,
      actor: { name: req.principal?.name ?? 'anonymous', requestId: req.id },
      services,
      log: req.log,
      req,
      res,
    });
    send(res, route, reply, req);
  });
  app[route.method](route.path, ...handlers);
}

/** A body that no parser accepted is the wrong media type (an empty body is left to validation). */
function requireParsedBody(types: string[]): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && req.body === undefined) {
      throw new UnsupportedMediaTypeError(`content type ${req.headers['content-type'] ?? '(none)'} is not accepted here (use ${types.join(' or ')})`);
    }
    next();
  };
}

function rejectQuery(query: unknown): Record<string, never> {
  const keys = Object.keys((query ?? {}) as object);
  if (keys.length === 0) return {};
  throw new InputError(`invalid query: ${keys[0]}: unknown field`, {
    details: keys.map((k) => ({ field: k, message: 'unknown field', in: 'query' })),
  });
}

function send(res: Response, route: AnyRoute, reply: Reply, req: Request): void {
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  if ('text' in reply) {
    res.status(reply.status).type(reply.contentType).send(reply.text);
    return;
  }
  if (reply.body === undefined) {
    res.status(reply.status).end();
    return;
  }
  // Responses pass through their documented schema: unknown fields (a password a service
  // returned by mistake) are stripped, and a shape that does not match is a bug, not a leak.
  const schema = route.responses[reply.status]?.schema;
  let body: unknown = reply.body;
  if (schema && (route.responses[reply.status]?.contentType ?? 'application/json') === 'application/json') {
    const parsed = schema.safeParse(reply.body);
    if (!parsed.success) {
      req.log.error({ issues: parsed.error.issues.slice(0, 5), route: route.path }, 'response does not match its schema');
      throw new Error(`response of ${route.method.toUpperCase()} ${route.path} does not match its schema`);
    }
    body = parsed.data;
  }
  res.status(reply.status).json(body);
}
