import { z } from 'zod';
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { API_ROLES } from './roles.js';

extendZodWithOpenApi(z);

export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

export const TokenCreate = z
  .object({
    name: z.string().regex(TOKEN_NAME_PATTERN, 'letters, digits, and . _ @ - (up to 128, starting with a letter or digit)'),
    role: z.enum(API_ROLES),
  })
  .strict()
  .openapi('TokenCreate');

export const Token = z
  .object({
    name: z.string(),
    role: z.enum(API_ROLES),
    prefix: z.string().openapi({ description: 'First characters of the token, to recognise it; never the whole token' }),
    created_at: z.string(),
    last_used_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
  })
  .openapi('Token');

export const CreatedToken = Token.extend({
  token: z.string().openapi({ description: 'The bearer token. Shown once; only its SHA-256 hash is stored.' }),
}).openapi('CreatedToken');

export type TokenCreate = z.infer<typeof TokenCreate>;
export type TokenView = z.infer<typeof Token>;
