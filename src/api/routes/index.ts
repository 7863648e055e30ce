import type { AnyRoute } from '../route.js';
import { auditRoutes } from './audit.js';
import { inventoryRoutes } from './inventory.js';
import { machineRoutes } from './machines.js';
import { metaRoutes } from './meta.js';
import { rackRoutes } from './racks.js';
import { siteRoutes } from './sites.js';
import { tokenRoutes } from './tokens.js';
import { healthApiRoutes } from './health.js';
import { orderRoutes } from './orders.js';
import { bmcRoutes } from './bmc.js';

/**
 * The route table. A new capability adds `api/routes/<capability>.ts` exporting its routes and
 * one line here; express, the OpenAPI document and the role tests all read this list.
 */
export function allRoutes(): AnyRoute[] {
  return [...metaRoutes, ...siteRoutes, ...rackRoutes, ...machineRoutes, ...inventoryRoutes, ...auditRoutes, ...tokenRoutes, ...healthApiRoutes, ...bmcRoutes, ...orderRoutes];
}
