import { z } from './zod.js';
import { buildOpenApiDocument, operationId } from './openapi.js';
import { defineRoute, type AnyRoute } from './route.js';

const Thing = z.object({ id: z.string() }).openapi('Thing');
const routes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/api/v1/things/:id',
    summary: 'get',
    tags: ['things'],
    roles: ['admin', 'viewer'],
    request: { params: z.object({ id: z.string() }) },
    responses: { 200: { description: 'ok', schema: Thing } },
    handler: async () => ({ status: 200 }),
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/things',
    summary: 'create',
    tags: ['things'],
    roles: ['admin'],
    request: { body: z.union([z.string(), Thing]), textBodyTypes: ['application/yaml'] },
    responses: { 201: { description: 'created', schema: Thing } },
    handler: async () => ({ status: 201 }),
  }),
  defineRoute({ method: 'get', path: '/healthz', summary: 'h', tags: ['meta'], roles: 'public', responses: { 200: { description: 'ok' } }, handler: async () => ({ status: 200 }) }),
];

describe('buildOpenApiDocument', () => {
  const doc = buildOpenApiDocument(routes, { version: '1.2.3' }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any

  it('is an OpenAPI 3.1 document with bearer security', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe('1.2.3');
    expect(doc.components.securitySchemes.bearer).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
  });

  it('uses OpenAPI path templates and documents parameters, roles and the common errors', () => {
    const op = doc.paths['/api/v1/things/{id}'].get;
    expect(op.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path', required: true })]);
    expect(op['x-anvil-roles']).toEqual(['admin', 'viewer']);
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '403']);
    expect(op.responses['401'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
  });

  it('documents text body types next to JSON', () => {
    const body = doc.paths['/api/v1/things'].post.requestBody;
    expect(Object.keys(body.content).sort()).toEqual(['application/json', 'application/yaml']);
    expect(body.content['application/yaml'].schema).toEqual({ type: 'string' });
  });

  it('marks public routes as needing no token', () => {
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/healthz'].get.responses['401']).toBeUndefined();
  });

  it('derives stable operation ids', () => {
    expect(routes.map(operationId)).toEqual(['getThingsById', 'postThings', 'getHealthz']);
  });
});
