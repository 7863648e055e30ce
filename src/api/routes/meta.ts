import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { z } from '../zod.js';
import { dialectOf } from '../../db/connect.js';
import { packageRoot } from '../../paths.js';
import { buildOpenApiDocument } from '../openapi.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { HealthResponse } from '../schemas.js';

export const ANVIL_VERSION: string = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

/** How long the health check waits for `select 1` before calling the database unreachable. */
const HEALTH_DB_TIMEOUT_MS = 2000;

async function pingDatabase(knex: Knex): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_DB_TIMEOUT_MS} ms`)), HEALTH_DB_TIMEOUT_MS);
  });
  try {
    await Promise.race([knex.raw('select 1'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const metaRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/healthz',
    summary: 'Liveness and database reachability (no token needed)',
    tags: ['meta'],
    roles: 'public',
    responses: {
      200: { description: 'Process up and database reachable', schema: HealthResponse },
      503: { description: 'Database unreachable', schema: HealthResponse },
    },
    async handler({ services, log }) {
      const dialect = dialectOf(services.knex);
      try {
        await pingDatabase(services.knex);
        return { status: 200, body: { status: 'ok', checks: { database: { ok: true, dialect } }, version: ANVIL_VERSION } };
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'health check: database unreachable');
        return {
          status: 503,
          body: { status: 'unavailable', checks: { database: { ok: false, dialect, error: 'database unreachable' } }, version: ANVIL_VERSION },
        };
      }
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This API as an OpenAPI 3.1 document (no token needed)',
    tags: ['meta'],
    roles: 'public',
    responses: { 200: { description: 'OpenAPI 3.1 document', schema: z.record(z.string(), z.unknown()) } },
    async handler({ req }) {
      // Built once per app: the route table does not change while it runs.
      const locals = req.app.locals as { routes: readonly AnyRoute[]; openApiDocument?: Record<string, unknown> };
      locals.openApiDocument ??= buildOpenApiDocument(locals.routes, { version: ANVIL_VERSION });
      return { status: 200, body: locals.openApiDocument };
    },
  }),
];
