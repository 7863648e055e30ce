import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/** Incoming ids are trusted only when short and plain (they end up in logs and audit rows). */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export function chooseRequestId(incoming: string | string[] | undefined, generate: () => string = randomUUID): string {
  const value = Array.isArray(incoming) ? incoming[0] : incoming;
  return value !== undefined && SANE_REQUEST_ID.test(value) ? value : generate();
}

declare module 'express-serve-static-core' {
  interface Request {
    /** The request id (incoming X-Request-Id when sane, else generated). */
    id: string;
    /** A child logger bound to this request's id. */
    log: Logger;
  }
}

/** Assigns the id, echoes it as X-Request-Id, and binds a child logger. */
export function requestId(logger: Logger): RequestHandler {
  return (req, res, next) => {
    req.id = chooseRequestId(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', req.id);
    req.log = logger.child({ request_id: req.id });
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = { method: req.method, path: req.path, status: res.statusCode, duration_ms: Math.round(ms * 10) / 10 };
      // Load balancers probe /healthz every few seconds; only failures of it are worth an info line.
      if (req.path === '/healthz' && res.statusCode < 300) req.log.debug(line, 'request');
      else req.log.info(line, 'request');
    });
    next();
  };
}
