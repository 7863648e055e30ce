import { z } from '../zod.js';
import { Site, SiteCreate, SiteListQuery, SitePage, SitePatch } from '../../inventory/schemas.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

const SiteParams = z.object({ code: z.string().min(1).max(64) }).strict();

export const siteRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/api/v1/sites',
    summary: 'List sites',
    tags: ['sites'],
    roles: ROLES.readers,
    request: { query: SiteListQuery },
    responses: { 200: { description: 'A page of sites', schema: SitePage } },
    async handler({ query, services }) {
      return { status: 200, body: await services.inventory.listSites(query) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/sites',
    summary: 'Create a site',
    tags: ['sites'],
    roles: ROLES.inventoryWriters,
    request: { body: SiteCreate },
    responses: { 201: { description: 'Created', schema: Site }, 409: { description: 'Code already exists' } },
    async handler({ body, services, actor }) {
      return { status: 201, body: await services.inventory.createSite(body, actor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/api/v1/sites/:code',
    summary: 'Get a site by code',
    tags: ['sites'],
    roles: ROLES.readers,
    request: { params: SiteParams },
    responses: { 200: { description: 'The site', schema: Site }, 404: { description: 'No such site' } },
    async handler({ params, services }) {
      return { status: 200, body: await services.inventory.getSite(params.code) };
    },
  }),
  defineRoute({
    method: 'patch',
    path: '/api/v1/sites/:code',
    summary: 'Change a site',
    tags: ['sites'],
    roles: ROLES.inventoryWriters,
    request: { params: SiteParams, body: SitePatch },
    responses: { 200: { description: 'The changed site', schema: Site }, 404: { description: 'No such site' } },
    async handler({ params, body, services, actor }) {
      return { status: 200, body: await services.inventory.updateSite(params.code, body, actor) };
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/api/v1/sites/:code',
    summary: 'Delete a site (409 while racks or machines reference it)',
    tags: ['sites'],
    roles: ROLES.inventoryWriters,
    request: { params: SiteParams },
    responses: { 204: { description: 'Deleted' }, 404: { description: 'No such site' }, 409: { description: 'Still referenced' } },
    async handler({ params, services, actor }) {
      await services.inventory.deleteSite(params.code, actor);
      return { status: 204 };
    },
  }),
];
