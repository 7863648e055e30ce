import type { Request, Response } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { Clock } from '../clock.js';
import type { Actor } from '../db/repositories/audit.js';
import type { InventoryService } from '../inventory/service.js';
import type { OrderService } from '../orders/orders.js';
import type { OrderLifecycle } from '../orders/lifecycle.js';
import type { MachineOperations } from '../provisioning/machine-operations.js';
import type { HealthServices } from '../health/services.js';
import type { AnvilMetrics } from '../metrics/metrics.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { Principal, TokenService } from '../tokens/service.js';
import type { ApiRole } from '../tokens/roles.js';

/** The capabilities route handlers call. Later capabilities (orders, BMC power) add theirs here. */
export interface ApiServices {
  knex: Knex;
  clock: Clock;
  secrets: SecretBox;
  inventory: InventoryService;
  tokens: TokenService;
  orders: OrderService;
  lifecycle: OrderLifecycle;
  /** BMC operations on machines (power, boot device, inspect, verify). */
  machines: MachineOperations;
  health: HealthServices;
  metrics: AnvilMetrics;
  /** The dedicated Prometheus scrape token (config `metrics.token`), accepted on /metrics besides API tokens. */
  metricsToken: string | null;
}

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** Who may call a route: a list of token roles, or `public` (no token needed). */
export type RouteRoles = readonly ApiRole[] | 'public';

/** What a handler answers. `body` is sent as JSON; `text` is sent as-is with `contentType`. */
export type Reply =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { status: number; text: string; contentType: string; headers?: Record<string, string> };

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The authenticated caller; null only on public routes. */
  principal: Principal | null;
  /** For audit rows: the token name and this request's id. */
  actor: Actor;
  services: ApiServices;
  log: Logger;
  req: Request;
  res: Response;
}

/** A response a route documents; `schema` describes the JSON body (or a text body for non-JSON types). */
export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  /** Defaults to application/json. */
  contentType?: string;
}

/**
 * One API route: the single source of truth for the express binding, the OpenAPI document and
 * the role checks. A capability exports a list of these from `api/routes/<capability>.ts`.
 */
export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  method: HttpMethod;
  /** Express-style path (`/api/v1/machines/:id`); OpenAPI gets `{id}`. */
  path: string;
  summary: string;
  description?: string;
  tags: string[];
  roles: RouteRoles;
  /**
   * A bearer credential accepted besides API tokens, e.g. the metrics scrape token. Returns a name
   * for the caller (logs, audit) when `token` is that credential, else null; the caller then passes
   * the role check without a principal. OpenAPI still shows bearer security, which stays true.
   */
  altCredential?: (token: string, services: ApiServices) => string | null;
  request?: {
    params?: P;
    query?: Q;
    body?: B;
    /**
     * Media types accepted besides application/json, delivered to the handler as a string (the
     * YAML import); the body schema must then accept a string too.
     */
    textBodyTypes?: string[];
  };
  responses: Record<number, ResponseSpec>;
  handler(ctx: RouteContext<z.output<P>, z.output<Q>, z.output<B>>): Promise<Reply>;
}

/** A route with its types erased, as kept in the route table. */
export type AnyRoute = RouteSpec<z.ZodType, z.ZodType, z.ZodType>;

type Untyped = z.ZodType<Record<string, never>>;

/** Declares a route with typed params/query/body inferred from its schemas. */
export function defineRoute<P extends z.ZodType = Untyped, Q extends z.ZodType = Untyped, B extends z.ZodType = Untyped>(
  spec: RouteSpec<P, Q, B>,
): AnyRoute {
  return spec as unknown as AnyRoute;
}

/** Role sets used across capabilities, so the matrix reads the same everywhere. */
export const ROLES = {
  readers: ['admin', 'technician', 'pipeline', 'viewer'],
  inventoryWriters: ['admin', 'technician'],
  operators: ['admin', 'technician'],
  auditors: ['admin', 'technician'],
  admin: ['admin'],
} as const satisfies Record<string, readonly ApiRole[]>;

export function toOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}
