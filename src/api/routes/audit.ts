import { z } from '../zod.js';
import { listAudit } from '../../db/repositories/audit.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

const AuditQuery = z
  .object({
    target_type: z.string().min(1).max(32).optional(),
    target_id: z.string().min(1).max(64).optional(),
    action: z.string().min(1).max(64).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    cursor: z.string().regex(/^[0-9]{1,18}$/, 'not a cursor returned by this listing').optional(),
  })
  .strict()
  .openapi('AuditQuery');

const AuditEntry = z
  .object({
    id: z.number().int(),
    at: z.string(),
    actor: z.string(),
    action: z.string(),
    target_type: z.string(),
    target_id: z.string().nullable(),
    before: z.unknown(),
    after: z.unknown(),
    reason: z.string().nullable(),
    request_id: z.string().nullable(),
  })
  .openapi('AuditEntry');

const AuditPage = z.object({ items: z.array(AuditEntry), next_cursor: z.string().nullable() }).openapi('AuditPage');

export const auditRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/api/v1/audit',
    summary: 'Read the audit log, oldest first (secrets are redacted when written)',
    tags: ['audit'],
    roles: ROLES.auditors,
    request: { query: AuditQuery },
    responses: { 200: { description: 'A page of audit entries', schema: AuditPage } },
    async handler({ query, services }) {
      const rows = await listAudit(services.knex, {
        ...(query.target_type ? { targetType: query.target_type } : {}),
        ...(query.target_id ? { targetId: query.target_id } : {}),
        ...(query.action ? { action: query.action } : {}),
        ...(query.cursor ? { afterId: Number(query.cursor) } : {}),
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      return {
        status: 200,
        body: {
          items: page.map((r) => ({
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target_type: r.targetType,
            target_id: r.targetId,
            before: r.before,
            after: r.after,
            reason: r.reason,
            request_id: r.requestId,
          })),
          next_cursor: rows.length > query.limit ? String(page[page.length - 1]!.id) : null,
        },
      };
    },
  }),
];
