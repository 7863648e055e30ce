/**
 * The small error hierarchy every capability throws. Each class carries a stable string
 * `code` (the JSON body's `error.code`, which the order pipeline branches on) and the HTTP
 * `status` the API answers with. Only `api/error-handler.ts` and the CLI translate these.
 */

export interface ErrorDetail {
  /** Dotted path of the offending field (`machines[3].nics[0].mac`), or a line reference. */
  field?: string;
  line?: number;
  file?: string;
  message: string;
  [key: string]: unknown;
}

export class AnvilError extends Error {
  readonly code: string = 'internal';
  readonly status: number = 500;
  readonly details: ErrorDetail[] | Record<string, unknown> | undefined;

  constructor(message: string, options: { details?: ErrorDetail[] | Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details;
  }
}

/** Bad input: request bodies, queries, config, YAML imports. */
export class InputError extends AnvilError {
  override readonly code: string = 'invalid_input';
  override readonly status: number = 400;
}

/** Well-formed input that cannot be processed as a whole (e.g. an inventory file with problems). */
export class UnprocessableError extends InputError {
  override readonly code: string = 'unprocessable';
  override readonly status: number = 422;
}

/** The machine's driver cannot do this (e.g. a BMC without boot-mode support). */
export class UnsupportedOperationError extends InputError {
  override readonly code: string = 'unsupported_by_driver';
}

export class AuthenticationError extends AnvilError {
  override readonly code: string = 'unauthenticated';
  override readonly status: number = 401;
}

export class NotAllowedError extends AnvilError {
  override readonly code: string = 'forbidden';
  override readonly status: number = 403;
}

export class NotFoundError extends AnvilError {
  override readonly code: string = 'not_found';
  override readonly status: number = 404;
}

export class ConflictError extends AnvilError {
  override readonly code: string = 'conflict';
  override readonly status: number = 409;
}

/** A lifecycle move the transition table does not allow; the message names both states. */
export class InvalidTransitionError extends ConflictError {
  override readonly code: string = 'invalid_transition';
}

/** Another worker holds the lease; the message names the holder and its purpose. */
export class LockedError extends ConflictError {
  override readonly code: string = 'locked';
}

/** The BMC answered but the operation failed. */
export class BmcError extends AnvilError {
  override readonly code: string = 'bmc_error';
  override readonly status: number = 502;
}

/** Timeout, refused connection, TLS failure: the BMC could not be talked to. */
export class BmcUnreachableError extends BmcError {
  override readonly code: string = 'bmc_unreachable';
  override readonly status: number = 504;
}

/** The BMC rejected the credentials. */
export class BmcAuthError extends BmcError {
  override readonly code: string = 'bmc_auth_failed';
}

/** Temporarily unable to serve: shutting down, database busy after retries. */
export class UnavailableError extends AnvilError {
  override readonly code: string = 'unavailable';
  override readonly status: number = 503;
}

export function isAnvilError(err: unknown): err is AnvilError {
  return err instanceof AnvilError;
}
