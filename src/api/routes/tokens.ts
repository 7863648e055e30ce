import { z } from '../zod.js';
import { CreatedToken, Token, TokenCreate } from '../../tokens/schemas.js';
import { defineRoute, ROLES, type AnyRoute } from '../route.js';

const TokenParams = z.object({ name: z.string().min(1).max(128) }).strict();

export const tokenRoutes: AnyRoute[] = [
  defineRoute({
    method: 'get',
    path: '/api/v1/tokens',
    summary: 'List API tokens (names, roles, prefixes; never the tokens)',
    tags: ['tokens'],
    roles: ROLES.admin,
    responses: { 200: { description: 'All tokens, revoked ones included', schema: z.object({ items: z.array(Token) }) } },
    async handler({ services }) {
      return { status: 200, body: { items: await services.tokens.list() } };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/api/v1/tokens',
    summary: 'Create an API token; the response is the only time it is shown',
    tags: ['tokens'],
    roles: ROLES.admin,
    request: { body: TokenCreate },
    responses: { 201: { description: 'Created', schema: CreatedToken }, 409: { description: 'Name already used' } },
    async handler({ body, services, actor }) {
      const { token, record } = await services.tokens.create(body, actor);
      return { status: 201, body: { ...record, token } };
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/api/v1/tokens/:name',
    summary: 'Revoke a token by name',
    tags: ['tokens'],
    roles: ROLES.admin,
    request: { params: TokenParams },
    responses: { 200: { description: 'The revoked token', schema: Token }, 404: { description: 'No such token' }, 409: { description: 'Already revoked' } },
    async handler({ params, services, actor }) {
      return { status: 200, body: await services.tokens.revoke(params.name, actor) };
    },
  }),
];
