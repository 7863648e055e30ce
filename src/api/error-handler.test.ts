import {
  AnvilError,
  AuthenticationError,
  BmcUnreachableError,
  ConflictError,
  InputError,
  InvalidTransitionError,
  NotAllowedError,
  NotFoundError,
  UnavailableError,
  UnprocessableError,
} from '../errors.js';
import { UnsupportedMediaTypeError } from './errors.js';
import { toErrorResponse } from './error-handler.js';

describe('toErrorResponse', () => {
  it.each([
    [new InputError('bad'), 400, 'invalid_input'],
    [new UnprocessableError('file has problems'), 422, 'unprocessable'],
    [new AuthenticationError('no token'), 401, 'unauthenticated'],
    [new NotAllowedError('role viewer may not'), 403, 'forbidden'],
    [new NotFoundError('machine m1 not found'), 404, 'not_found'],
    [new ConflictError('serial taken'), 409, 'conflict'],
    [new InvalidTransitionError('cannot move'), 409, 'invalid_transition'],
    [new UnsupportedMediaTypeError('text/csv'), 415, 'unsupported_media_type'],
    [new BmcUnreachableError('timeout'), 504, 'bmc_unreachable'],
    [new UnavailableError('shutting down'), 503, 'unavailable'],
  ])('maps %p to %i %s with its message', (err, status, code) => {
    const r = toErrorResponse(err);
    expect(r.status).toBe(status);
    expect(r.body.error).toEqual({ code, message: (err as Error).message, details: null });
    expect(r.isBug).toBe(false);
  });

  it('keeps details', () => {
    const details = [{ field: 'nics[0].mac', message: 'not a MAC address' }];
    expect(toErrorResponse(new InputError('x', { details })).body.error.details).toEqual(details);
  });

  it('turns body-parser failures into 400, 413 and 415', () => {
    expect(toErrorResponse(Object.assign(new SyntaxError('Unexpected end of JSON input'), { type: 'entity.parse.failed', status: 400 }))).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', message: 'malformed JSON body: Unexpected end of JSON input' } },
    });
    expect(toErrorResponse({ type: 'entity.too.large', status: 413 }).status).toBe(413);
    expect(toErrorResponse({ type: 'encoding.unsupported', status: 415, message: 'unsupported content encoding "br"' }).status).toBe(415);
  });

  it('answers 500 internal for anything else, revealing nothing', () => {
    const r = toErrorResponse(new TypeError("Cannot read properties of undefined (reading 'password_enc')"));
    expect(r).toEqual({ status: 500, body: { error: { code: 'internal', message: 'internal error', details: null } }, isBug: true });
    expect(toErrorResponse(new AnvilError('base class')).isBug).toBe(true);
    expect(toErrorResponse(undefined).status).toBe(500);
  });
});
