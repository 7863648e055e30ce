import { MaintenanceListQuery, MaintenanceWindow, MaintenanceWindowCreate, MaintenanceWindowList } from '../../health/schemas.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

export const maintenanceRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/api/v1/maintenance-windows',
    summary: 'Announce planned maintenance on a machine, rack or site',
    description: 'Affected customers (delivered servers in scope) are notified now (maintenance.announced); sweeps open no incidents for covered machines during the window.',
    tags: ['health'],
    roles: ROLES.operators,
    request: { body: MaintenanceWindowCreate },
    responses: { 201: { description: 'Announced', schema: MaintenanceWindow }, 400: { description: 'Window ends before it starts or is over' }, 404: { description: 'Unknown target' } },
    async handler({ body, services, actor }) {
      return { status: 201, body: await services.health.maintenance.announce(body, actor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/maintenance-windows',
    summary: 'Maintenance windows not yet over (include_past=true for all)',
    tags: ['health'],
    roles: ROLES.readers,
    request: { query: MaintenanceListQuery },
    responses: { 200: { description: 'Windows, soonest first', schema: MaintenanceWindowList } },
    async handler({ query, services }) {
      return { status: 200, body: { items: await services.health.maintenance.list({ includePast: query.include_past ?? false }) } };
    },
  }),
];
