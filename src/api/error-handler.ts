import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Logger } from 'pino';
import { InputError, NotFoundError } from '../errors.js';
import { toErrorResponse } from '../http-errors.js';

export { toErrorResponse, type ErrorBody } from '../http-errors.js';
import { MethodNotAllowedError } from './errors.js';

/** The express error middleware: logs bugs with their stack, answers JSON, never a stack trace. */
export function errorHandler(fallbackLogger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      // Too late for a JSON error; let express close the connection.
      next(err);
      return;
    }
    const { status, body, isBug } = toErrorResponse(fromHttpLayer(err));
    const log: Logger = (req as Request & { log?: Logger }).log ?? fallbackLogger;
    if (isBug) log.error({ err }, `unhandled error on ${req.method} ${req.path}`);
    else if (status >= 500) log.warn({ code: body.error.code, msg_detail: body.error.message }, 'request failed');
    const requestId = res.getHeader('X-Request-Id');
    if (typeof requestId === 'string') body.error.request_id = requestId;
    res.status(status).json(body);
  };
}

/**
 * Failures raised by express and body-parser before any Anvil code runs, reworded as Anvil
 * errors where their own message would mislead; anything else is returned unchanged.
 */
function fromHttpLayer(err: unknown): unknown {
  const e = err as { status?: number; type?: string; body?: unknown } | null;
  // The router could not percent-decode a path parameter (`/machines/%ZZ`); it marks the URIError
  // 400 but not `expose`, so it would otherwise be answered as a 500.
  if (err instanceof URIError && e?.status === 400) {
    return new InputError('invalid path: malformed percent-encoding', { details: [{ field: 'path', message: 'malformed percent-encoding (use %XX with two hex digits, UTF-8)', in: 'params' }] });
  }
  // Strict JSON parsing refuses valid JSON that is not an object or array (`null`, `42`) with a
  // message calling it invalid JSON, which sends the caller looking for a syntax error.
  if (e?.type === 'entity.parse.failed' && typeof e.body === 'string') {
    let value: unknown;
    try {
      value = JSON.parse(e.body);
    } catch {
      return err;
    }
    const got = value === null ? 'null' : typeof value;
    return new InputError(`invalid body: the JSON body must be an object, not ${got}`, { details: [{ field: 'body', message: `must be a JSON object, not ${got}`, in: 'body' }] });
  }
  return err;
}

/**
 * The last route: a path the table knows with another method is a 405 with `Allow`; anything
 * else is a JSON 404.
 */
export function notFoundHandler(routes: readonly { method: string; path: string }[] = []): (req: Request, res: Response) => never {
  const patterns = routes.map((r) => ({ method: r.method.toUpperCase(), regex: pathPattern(r.path) }));
  return (req, res) => {
    const allowed = [...new Set(patterns.filter((p) => p.regex.test(req.path)).map((p) => p.method))];
    if (allowed.length > 0) {
      if (allowed.includes('GET')) allowed.push('HEAD');
      res.setHeader('Allow', allowed.join(', '));
      throw new MethodNotAllowedError(`${req.method} is not allowed on ${req.path} (allowed: ${allowed.join(', ')})`);
    }
    throw new NotFoundError(`no route for ${req.method} ${req.path}`);
  };
}

/** `/api/v1/machines/:id` → a regex matching one non-empty segment per parameter. */
function pathPattern(path: string): RegExp {
  const escaped = path
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${escaped}/?$`);
}
