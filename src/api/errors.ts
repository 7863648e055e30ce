import { InputError } from '../errors.js';

/** The request body's media type is not one the route accepts. HTTP-only, so it lives in api/. */
export class UnsupportedMediaTypeError extends InputError {
  override readonly code: string = 'unsupported_media_type';
  override readonly status: number = 415;
}

/** The path exists but not with this method; the response carries an Allow header. */
export class MethodNotAllowedError extends InputError {
  override readonly code: string = 'method_not_allowed';
  override readonly status: number = 405;
}
