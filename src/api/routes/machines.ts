import { z } from '../zod.js';
import { Machine, MachineCreate, MachineListQuery, MachinePage, MachinePatch, MaintenanceRequest } from '../../inventory/schemas.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

const MachineParams = z
  .object({ id: z.string().min(1).max(128).openapi({ description: 'Machine id or serial number' }) })
  .strict();

export const machineRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/api/v1/machines',
    summary: 'List machines, filtered, with cursor pagination',
    tags: ['machines'],
    roles: ROLES.readers,
    request: { query: MachineListQuery },
    responses: { 200: { description: 'A page of machines (follow next_cursor for more)', schema: MachinePage } },
    async handler({ query, services }) {
      return { status: 200, body: await services.inventory.listMachines(query) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/machines',
    summary: 'Enrol a machine with its BMC and NICs',
    tags: ['machines'],
    roles: ROLES.inventoryWriters,
    request: { body: MachineCreate },
    responses: {
      201: { description: 'Created (the BMC password is stored encrypted and never returned)', schema: Machine },
      404: { description: 'Unknown site or rack' },
      409: { description: 'Serial, asset tag, MAC, IP or rack unit already used' },
    },
    async handler({ body, services, actor }) {
      return { status: 201, body: await services.inventory.createMachine(body, actor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/machines/:id',
    summary: 'Get a machine by id or serial',
    tags: ['machines'],
    roles: ROLES.readers,
    request: { params: MachineParams },
    responses: { 200: { description: 'The machine', schema: Machine }, 404: { description: 'No such machine' } },
    async handler({ params, services }) {
      return { status: 200, body: await services.inventory.getMachine(params.id) };
    },
  }),
  defineRoute({
    method: 'patch',
    path: '/api/v1/machines/:id',
    summary: 'Change a machine (nics, when given, is the complete new list)',
    tags: ['machines'],
    roles: ROLES.inventoryWriters,
    request: { params: MachineParams, body: MachinePatch },
    responses: { 200: { description: 'The changed machine', schema: Machine }, 404: { description: 'No such machine' }, 409: { description: 'Conflicts with another machine' } },
    async handler({ params, body, services, actor }) {
      return { status: 200, body: await services.inventory.updateMachine(params.id, body, actor) };
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/api/v1/machines/:id',
    summary: 'Delete a machine (409 while it is allocated, deploying, active, releasing or wiping)',
    tags: ['machines'],
    roles: ROLES.inventoryWriters,
    request: { params: MachineParams },
    responses: { 204: { description: 'Deleted' }, 404: { description: 'No such machine' }, 409: { description: 'Machine in use' } },
    async handler({ params, services, actor }) {
      await services.inventory.deleteMachine(params.id, actor);
      return { status: 204 };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/machines/:id/maintenance',
    summary: 'Put a machine into maintenance (reason required) or take it out',
    tags: ['machines'],
    roles: ROLES.operators,
    request: { params: MachineParams, body: MaintenanceRequest },
    responses: { 200: { description: 'The machine', schema: Machine }, 404: { description: 'No such machine' } },
    async handler({ params, body, services, actor }) {
      return { status: 200, body: await services.inventory.setMaintenance(params.id, body, actor) };
    },
  }),
];
