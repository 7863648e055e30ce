import { getMachineHealth } from '../../health/machine-health.js';
import { IdParams, MachineHealth, MachineHealthQuery } from '../../health/schemas.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';
import { incidentRoutes } from './incidents.js';
import { maintenanceRoutes } from './maintenance.js';
import { metricsRoutes } from './metrics.js';
import { sweepRoutes } from './sweeps.js';

export const machineHealthRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/api/v1/machines/:id/health',
    summary: "A machine's current components (worst first) and recent health history",
    tags: ['health'],
    roles: ROLES.readers,
    request: { params: IdParams, query: MachineHealthQuery },
    responses: { 200: { description: 'Current health', schema: MachineHealth }, 404: { description: 'No such machine' } },
    async handler({ params, query, services }) {
      return { status: 200, body: await getMachineHealth(services.knex, params.id, query.history_limit) };
    },
  }),
];

/** The health capability's routes (sweeps, machine health, incidents, maintenance, /metrics). */
export const healthApiRoutes: AnyRoute[] = [...sweepRoutes, ...machineHealthRoutes, ...incidentRoutes, ...maintenanceRoutes, ...metricsRoutes];
