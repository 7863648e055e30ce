import { z } from '../zod.js';
import { BootDeviceBody, PowerRequest } from '../../provisioning/machine-operations.js';
import { Machine } from '../../inventory/schemas.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

const MachineParams = z.object({ id: z.string().min(1).max(128).openapi({ description: 'Machine id or serial number' }) }).strict();

const PowerStatus = z.object({ power_state: z.enum(['on', 'off', 'unknown']), observed_at: z.string() }).openapi('PowerStatus');
const PowerBody = PowerRequest.openapi('PowerRequest');
const BootBody = BootDeviceBody.openapi('BootDeviceRequest');
const BootDevice = z.object({ device: z.string(), persistent: z.boolean(), mode: z.string() }).openapi('BootDevice');
const Verification = z.object({ provision_state: z.string(), last_error: z.string().nullable() }).openapi('Verification');

const bmcErrors = {
  409: { description: 'A workflow is driving the machine, a customer server needs a reason, or the order is suspended' },
  502: { description: 'The BMC answered with an error or refused the credentials' },
  504: { description: 'The BMC could not be reached in time' },
};

export const bmcRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/api/v1/machines/:id/power',
    summary: 'Read the power state from the BMC',
    tags: ['bmc'],
    roles: ROLES.readers,
    request: { params: MachineParams },
    responses: { 200: { description: 'Power state as the BMC reports it now', schema: PowerStatus }, 404: { description: 'No such machine' }, ...bmcErrors },
    async handler({ params, services }) {
      return { status: 200, body: await services.machines.powerState(params.id) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/machines/:id/power',
    summary: 'Power on, off (hard), soft-off (ACPI), cycle or reset, confirmed by the BMC',
    tags: ['bmc'],
    roles: ROLES.operators,
    request: { params: MachineParams, body: PowerBody },
    responses: { 200: { description: 'The power state after the action', schema: PowerStatus }, 404: { description: 'No such machine' }, ...bmcErrors },
    async handler({ params, body, services, actor }) {
      return { status: 200, body: await services.machines.power(params.id, body, actor) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/machines/:id/boot-device',
    summary: 'Set the next (or persistent) boot device: pxe, disk or bios, UEFI or legacy',
    tags: ['bmc'],
    roles: ROLES.operators,
    request: { params: MachineParams, body: BootBody },
    responses: { 200: { description: 'The boot device that was set', schema: BootDevice }, 404: { description: 'No such machine' }, ...bmcErrors },
    async handler({ params, body, services, actor }) {
      return { status: 200, body: await services.machines.setBootDevice(params.id, body, actor) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/machines/:id/inspect',
    summary: 'Read CPUs, memory, disks and NICs through the BMC and store them; flags NICs that disagree with inventory',
    tags: ['bmc'],
    roles: ROLES.operators,
    request: { params: MachineParams },
    responses: { 200: { description: 'The machine with its stored facts (hardware)', schema: Machine }, 404: { description: 'No such machine' }, ...bmcErrors },
    async handler({ params, services, actor }) {
      return { status: 200, body: await services.machines.inspect(params.id, actor) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/machines/:id/verify',
    summary: 'Enrollment check: enrolled → available when the BMC answers and accepts the credentials',
    tags: ['bmc'],
    roles: ROLES.operators,
    request: { params: MachineParams },
    responses: { 200: { description: 'The outcome (stays enrolled with the reason on failure)', schema: Verification }, 404: { description: 'No such machine' }, 409: { description: 'Not in a state that can be verified' } },
    async handler({ params, services, actor }) {
      return { status: 200, body: await services.machines.verify(params.id, actor) };
    },
  }),
];
