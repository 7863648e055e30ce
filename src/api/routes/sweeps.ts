import { IdParams, Sweep, SweepCreate, SweepList, SweepListQuery } from '../../health/schemas.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

export const sweepRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/api/v1/sweeps',
    summary: 'Start a health sweep of a site, one machine, or every site',
    description: 'Answers 202 once the sweep is recorded and its site lease held; poll GET /api/v1/sweeps/{id} for progress.',
    tags: ['health'],
    roles: ROLES.operators,
    request: { body: SweepCreate },
    responses: {
      202: { description: 'Sweep started', schema: Sweep },
      404: { description: 'Unknown site or machine' },
      409: { description: 'A sweep of this site is already running (locked)' },
    },
    async handler({ body, services, actor }) {
      const { sweep } = await services.health.sweeper.start({ site: body.site ?? null, machine: body.machine ?? null, trigger: 'demand', requestedBy: actor.name });
      return { status: 202, body: sweep, headers: { location: `/api/v1/sweeps/${sweep.id}` } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/sweeps',
    summary: 'Recent sweeps, newest first',
    tags: ['health'],
    roles: ROLES.readers,
    request: { query: SweepListQuery },
    responses: { 200: { description: 'Sweeps', schema: SweepList } },
    async handler({ query, services }) {
      return { status: 200, body: { items: await services.health.sweeper.listSweeps(query.limit) } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/sweeps/:id',
    summary: 'A sweep: done/total, errors, duration',
    tags: ['health'],
    roles: ROLES.readers,
    request: { params: IdParams },
    responses: { 200: { description: 'The sweep', schema: Sweep }, 404: { description: 'No such sweep' } },
    async handler({ params, services }) {
      return { status: 200, body: await services.health.sweeper.getSweep(params.id) };
    },
  }),
];
