import { z } from '../zod.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';
import { QueryBoolean } from '../schemas.js';

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

const ImportQuery = z.object({ dry_run: QueryBoolean.optional() }).strict();

/** A YAML text (sent as application/yaml) or the same document as JSON. */
const InventoryDocument = z
  .union([z.string().min(1, 'empty inventory document'), z.record(z.string(), z.unknown())])
  .openapi('InventoryDocument', { description: 'The inventory file (sites, racks, machines), as JSON or YAML text' });

const ImportReport = z
  .object({
    created: z.array(z.object({ kind: z.string(), key: z.string() })),
    updated: z.array(z.object({ kind: z.string(), key: z.string(), fields: z.array(z.string()) })),
    unchanged: z.number().int(),
    dry_run: z.boolean(),
  })
  .openapi('ImportReport');

const ImportProblems = z
  .object({
    error: z.object({
      code: z.literal('unprocessable'),
      message: z.string(),
      details: z.array(z.object({ file: z.string().optional(), line: z.number().int().optional(), field: z.string().optional(), message: z.string() })),
      request_id: z.string().optional(),
    }),
  })
  .openapi('ImportProblems');

export const inventoryRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/api/v1/inventory/import',
    summary: 'Import an inventory file: all entries or none',
    description:
      'Creates and updates sites, racks and machines from a YAML (application/yaml) or JSON document. ' +
      'Nothing is written when any entry is wrong; the 422 lists every problem with its line and field. ' +
      'With dry_run=true, reports what would change without writing.',
    tags: ['inventory'],
    roles: ROLES.inventoryWriters,
    request: { query: ImportQuery, body: InventoryDocument, textBodyTypes: YAML_TYPES },
    responses: {
      200: { description: 'What was (or, in a dry run, would be) created and updated', schema: ImportReport },
      422: { description: 'The document has problems; nothing was written', schema: ImportProblems },
    },
    async handler({ query, body, services, actor }) {
      const report = await services.inventory.importInventory(body, { dryRun: query.dry_run ?? false, actor, fileName: 'request body' });
      return { status: 200, body: { created: report.created, updated: report.updated, unchanged: report.unchanged, dry_run: report.dryRun } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/inventory/export',
    summary: 'Export the inventory as YAML (without BMC passwords)',
    tags: ['inventory'],
    roles: ['admin', 'technician', 'viewer'],
    responses: { 200: { description: 'The inventory file', schema: z.string(), contentType: 'application/yaml' } },
    async handler({ services }) {
      const text = await services.inventory.exportInventory({ withSecrets: false });
      return { status: 200, text, contentType: 'application/yaml; charset=utf-8', headers: { 'Content-Disposition': 'inline; filename="inventory.yaml"' } };
    },
  }),
];
