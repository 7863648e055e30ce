import { allRoutes } from '../../../src/api/routes/index.js';
import { toOpenApiPath } from '../../../src/api/route.js';
import { API_ROLES } from '../../../src/tokens/roles.js';
import { testDatabases } from '../../support/databases.js';
import { useApi } from './harness.js';

const routes = allRoutes();

/** A concrete URL for a route: every path parameter gets a value no resource has. */
function concrete(path: string): string {
  return path.replace(/:([A-Za-z_]+)/g, 'matrix-$1');
}

interface ExpressLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

describe.each(testDatabases())('route table on %s', (dialect) => {
  const api = useApi(dialect);

  it('serves exactly the routes of the table (walking the express router)', () => {
    const stack = (api.app as unknown as { router: { stack: ExpressLayer[] } }).router.stack;
    const served = stack
      .filter((l) => l.route)
      .flatMap((l) => Object.keys(l.route!.methods).map((m) => `${m.toUpperCase()} ${l.route!.path}`))
      .sort();
    expect(served).toEqual(routes.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort());
  });

  it('documents every served route, with its security and roles, in openapi.json', async () => {
    const doc = (await api.call('get', '/api/v1/openapi.json', { role: null })).json;
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    expect(documented).toEqual(routes.map((r) => `${r.method.toUpperCase()} ${toOpenApiPath(r.path)}`).sort());
    for (const r of routes) {
      const op = doc.paths[toOpenApiPath(r.path)][r.method];
      expect(op['x-anvil-roles']).toEqual(r.roles === 'public' ? 'public' : [...r.roles]);
      expect(op.security).toEqual(r.roles === 'public' ? [] : [{ bearer: [] }]);
      expect(Object.keys(op.responses).length).toBeGreaterThan(0);
      if (r.request?.body) expect(op.requestBody.content['application/json'].schema).toBeDefined();
    }
  });

  const protectedRoutes = routes.filter((r) => r.roles !== 'public');
  const publicRoutes = routes.filter((r) => r.roles === 'public');

  it.each(protectedRoutes.map((r) => [r.method.toUpperCase(), r.path, r]))('%s %s answers 401 without a token', async (_m, _p, route) => {
    const res = await api.call(route.method, concrete(route.path), { role: null, ...(route.request?.body ? { body: {} } : {}) });
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe('unauthenticated');
  });

  // A route marked public must really need no token (OpenAPI says so); a route that accepts a
  // credential of its own besides API tokens declares roles plus `altCredential` instead.
  it.each(publicRoutes.map((r) => [r.method.toUpperCase(), r.path, r]))('%s %s answers without a token', async (_m, _p, route) => {
    const res = await api.call(route.method, concrete(route.path), { role: null });
    expect(res.status).toBe(200);
  });

  const matrix = protectedRoutes.flatMap((r) => API_ROLES.map((role) => [role, r.method.toUpperCase(), r.path, r, (r.roles as readonly string[]).includes(role)] as const));
  it.each(matrix)('%s: %s %s', async (role, _m, _p, route, allowed) => {
    const res = await api.call(route.method, concrete(route.path), { role, ...(route.request?.body ? { body: {} } : {}) });
    if (allowed) {
      expect(res.status).not.toBe(403);
      expect(res.status).not.toBe(401);
      expect(res.status).toBeLessThan(500);
    } else {
      expect(res.status).toBe(403);
      expect(res.json.error.code).toBe('forbidden');
    }
  });
});
