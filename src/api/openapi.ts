import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { ZodObject } from 'zod';
import { ErrorResponse } from './schemas.js';
import { toOpenApiPath, type AnyRoute } from './route.js';

/** Errors every protected route may answer, besides those it documents itself. */
const COMMON_ERRORS: Record<number, string> = {
  400: 'Invalid input (details name each field)',
  401: 'Missing, unknown or revoked token',
  403: 'The token role may not call this route',
};

export interface OpenApiInfo {
  version: string;
  serverUrl?: string;
}

/**
 * The OpenAPI 3.1 document of the route table: the same zod schemas that validate requests
 * describe them here, and each operation lists its roles under `x-anvil-roles`.
 */
export function buildOpenApiDocument(routes: readonly AnyRoute[], info: OpenApiInfo): Record<string, unknown> {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API token from `anvil token create` (starts with anv_)',
  });
  for (const route of routes) {
    const responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }> = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      const type = spec.contentType ?? 'application/json';
      responses[status] = spec.schema
        ? { description: spec.description, content: { [type]: { schema: spec.schema } } }
        : { description: spec.description };
    }
    const isPublic = route.roles === 'public';
    const errorStatuses = isPublic ? [] : [401, 403];
    if (route.request?.body || route.request?.query || route.request?.params) errorStatuses.unshift(400);
    for (const status of errorStatuses) {
      responses[String(status)] ??= { description: COMMON_ERRORS[status]!, content: { 'application/json': { schema: ErrorResponse } } };
    }
    const body = route.request?.body;
    const content: Record<string, { schema: unknown }> = {};
    if (body) {
      content['application/json'] = { schema: body };
      for (const type of route.request?.textBodyTypes ?? []) content[type] = { schema: { type: 'string' } };
    }
    registry.registerPath({
      method: route.method,
      path: toOpenApiPath(route.path),
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: route.tags,
      operationId: operationId(route),
      security: isPublic ? [] : [{ bearer: [] }],
      'x-anvil-roles': isPublic ? 'public' : [...route.roles],
      request: {
        ...(route.request?.params ? { params: route.request.params as ZodObject } : {}),
        ...(route.request?.query ? { query: route.request.query as ZodObject } : {}),
        ...(body ? { body: { required: true, content: content as never } } : {}),
      },
      responses: responses as never,
    });
  }
  const generator = new OpenApiGeneratorV31(registry.definitions);
  return generator.generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Anvil API',
      version: info.version,
      description: 'Bare-metal lifecycle controller. Authenticate with `Authorization: Bearer <token>`.',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    security: [{ bearer: [] }],
  }) as unknown as Record<string, unknown>;
}

/** `GET /api/v1/machines/:id/maintenance` → `getMachinesIdMaintenance`; stable across runs. */
export function operationId(route: AnyRoute): string {
  const parts = route.path
    .replace(/^\/api\/v1\//, '/')
    .split(/[/_.-]+/)
    .filter(Boolean)
    .map((p) => (p.startsWith(':') ? 'By' + cap(p.slice(1)) : cap(p)));
  return route.method + parts.join('');
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
