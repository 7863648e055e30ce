import { z } from './zod.js';

/** The body of every error response. */
export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.string().openapi({ description: 'Stable machine-readable code, e.g. invalid_input, not_found, conflict', example: 'not_found' }),
      message: z.string().openapi({ description: 'One line for humans; names the thing' }),
      details: z.unknown().openapi({ description: 'Structured detail, e.g. [{field, message}] for invalid input; null when there is none' }),
      request_id: z.string().optional(),
    }),
  })
  .openapi('Error');

/** `true`/`false`/`1`/`0` in a query string. */
export const QueryBoolean = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const HealthResponse = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    checks: z.object({ database: z.object({ ok: z.boolean(), dialect: z.string(), error: z.string().optional() }) }),
    version: z.string(),
  })
  .openapi('Health');
