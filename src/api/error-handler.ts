import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Logger } from 'pino';
import { AnvilError, NotFoundError } from '../errors.js';
import { MethodNotAllowedError } from './errors.js';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown; request_id?: string };
}

/** Body-parser and other http-errors style failures carry `status`/`type` and `expose`. */
interface HttpLikeError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
  message?: string;
}

const HTTP_ERROR_CODES: Record<string, { status: number; code: string; message: (e: HttpLikeError) => string }> = {
  'entity.parse.failed': { status: 400, code: 'invalid_input', message: (e) => `malformed JSON body: ${e.message ?? 'parse error'}` },
  'entity.too.large': { status: 413, code: 'payload_too_large', message: () => 'request body is too large' },
  'encoding.unsupported': { status: 415, code: 'unsupported_media_type', message: (e) => e.message ?? 'unsupported content encoding' },
  'charset.unsupported': { status: 415, code: 'unsupported_media_type', message: (e) => e.message ?? 'unsupported charset' },
  'request.aborted': { status: 400, code: 'invalid_input', message: () => 'request aborted by the client' },
};

/**
 * Maps anything thrown to the status and JSON body the API answers with. AnvilErrors keep their
 * status, code, message and details; body-parser errors become 400/413/415; everything else is a
 * bug and becomes 500 `internal` with a message that reveals nothing.
 */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; isBug: boolean } {
  if (err instanceof AnvilError) {
    const body: ErrorBody = { error: { code: err.code, message: err.message } };
    if (err.details !== undefined) body.error.details = err.details;
    return { status: err.status, body, isBug: err.status >= 500 && err.code === 'internal' };
  }
  const e = (err ?? {}) as HttpLikeError;
  if (typeof e.type === 'string' && HTTP_ERROR_CODES[e.type]) {
    const m = HTTP_ERROR_CODES[e.type]!;
    return { status: m.status, body: { error: { code: m.code, message: m.message(e) } }, isBug: false };
  }
  const status = e.status ?? e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && e.expose) {
    return { status, body: { error: { code: 'invalid_input', message: e.message ?? 'bad request' } }, isBug: false };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error' } }, isBug: true };
}

/** The express error middleware: logs bugs with their stack, answers JSON, never a stack trace. */
export function errorHandler(fallbackLogger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      // Too late for a JSON error; let express close the connection.
      next(err);
      return;
    }
    const { status, body, isBug } = toErrorResponse(err);
    const log: Logger = (req as Request & { log?: Logger }).log ?? fallbackLogger;
    if (isBug) log.error({ err }, `unhandled error on ${req.method} ${req.path}`);
    else if (status >= 500) log.warn({ code: body.error.code, msg_detail: body.error.message }, 'request failed');
    const requestId = res.getHeader('X-Request-Id');
    if (typeof requestId === 'string') body.error.request_id = requestId;
    res.status(status).json(body);
  };
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
