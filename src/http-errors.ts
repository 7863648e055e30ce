import { AnvilError } from './errors.js';

/**
 * How any error thrown while serving HTTP becomes a status and a JSON body
 * `{error: {code, message, details}}`. Shared by the API and the boot HTTP service.
 */

export interface ErrorBody {
  /** `details` is always there (null when there is nothing structured to add): clients read it without checking. */
  error: { code: string; message: string; details: unknown; request_id?: string };
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
    const body: ErrorBody = { error: { code: err.code, message: err.message, details: err.details ?? null } };
    return { status: err.status, body, isBug: err.status >= 500 && err.code === 'internal' };
  }
  const e = (err ?? {}) as HttpLikeError;
  if (typeof e.type === 'string' && HTTP_ERROR_CODES[e.type]) {
    const m = HTTP_ERROR_CODES[e.type]!;
    return { status: m.status, body: { error: { code: m.code, message: m.message(e), details: null } }, isBug: false };
  }
  const status = e.status ?? e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && e.expose) {
    return { status, body: { error: { code: 'invalid_input', message: e.message ?? 'bad request', details: null } }, isBug: false };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error', details: null } }, isBug: true };
}

