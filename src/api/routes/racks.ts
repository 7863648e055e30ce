import { z } from '../zod.js';
import { Rack, RackCreate, RackListQuery, RackPage, RackPatch } from '../../inventory/schemas.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

const RackParams = z.object({ id: z.string().min(1).max(64) }).strict();

export const rackRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/api/v1/racks',
    summary: 'List racks (optionally of one site)',
    tags: ['racks'],
    roles: ROLES.readers,
    request: { query: RackListQuery },
    responses: { 200: { description: 'A page of racks', schema: RackPage } },
    async handler({ query, services }) {
      return { status: 200, body: await services.inventory.listRacks(query) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/racks',
    summary: 'Create a rack in a site',
    tags: ['racks'],
    roles: ROLES.inventoryWriters,
    request: { body: RackCreate },
    responses: { 201: { description: 'Created', schema: Rack }, 404: { description: 'No such site' }, 409: { description: 'Name taken in that site' } },
    async handler({ body, services, actor }) {
      return { status: 201, body: await services.inventory.createRack(body, actor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/racks/:id',
    summary: 'Get a rack',
    tags: ['racks'],
    roles: ROLES.readers,
    request: { params: RackParams },
    responses: { 200: { description: 'The rack', schema: Rack }, 404: { description: 'No such rack' } },
    async handler({ params, services }) {
      return { status: 200, body: await services.inventory.getRack(params.id) };
    },
  }),
  defineRoute({
    method: 'patch',
    path: '/api/v1/racks/:id',
    summary: 'Change a rack',
    tags: ['racks'],
    roles: ROLES.inventoryWriters,
    request: { params: RackParams, body: RackPatch },
    responses: { 200: { description: 'The changed rack', schema: Rack }, 404: { description: 'No such rack' } },
    async handler({ params, body, services, actor }) {
      return { status: 200, body: await services.inventory.updateRack(params.id, body, actor) };
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/api/v1/racks/:id',
    summary: 'Delete a rack (409 while machines are in it)',
    tags: ['racks'],
    roles: ROLES.inventoryWriters,
    request: { params: RackParams },
    responses: { 204: { description: 'Deleted' }, 404: { description: 'No such rack' }, 409: { description: 'Machines still in it' } },
    async handler({ params, services, actor }) {
      await services.inventory.deleteRack(params.id, actor);
      return { status: 204 };
    },
  }),
];
