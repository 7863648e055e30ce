import type { RequestHandler } from 'express';
import { AuthenticationError, NotAllowedError } from '../errors.js';
import type { Principal, TokenService } from '../tokens/service.js';
import type { ApiServices, RouteRoles } from './route.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by `authorize` on protected routes. */
    principal?: Principal;
  }
}

/** Extracts the token from `Authorization: Bearer <token>`; undefined when absent or another scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  // The scheme name is case-insensitive (RFC 7235 §2.1).
  const m = /^bearer +([^ ]+) *$/i.exec(header);
  return m ? m[1] : undefined;
}

/**
 * Checks the bearer token (401 `unauthenticated` when missing, unknown or revoked) and the
 * token's role against the route's roles (403 `forbidden`).
 */
export function authorize(
  tokens: TokenService,
  roles: RouteRoles,
  what: string,
  alt?: { check: (token: string, services: ApiServices) => string | null; services: ApiServices },
): RequestHandler {
  return async (req, res, next) => {
    if (roles === 'public') {
      next();
      return;
    }
    const token = bearerToken(req.headers.authorization);
    if (!token) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="anvil"');
      throw new AuthenticationError('missing bearer token (send Authorization: Bearer <token>)');
    }
    const altName = alt ? alt.check(token, alt.services) : null;
    if (altName !== null) {
      req.log = req.log.child({ actor: altName });
      next();
      return;
    }
    let principal: Principal;
    try {
      principal = await tokens.authenticate(token);
    } catch (err) {
      if (err instanceof AuthenticationError) res.setHeader('WWW-Authenticate', 'Bearer realm="anvil", error="invalid_token"');
      throw err;
    }
    req.principal = principal;
    req.log = req.log.child({ actor: principal.name });
    if (!roles.includes(principal.role)) {
      throw new NotAllowedError(`role ${principal.role} may not ${what}`, { details: { role: principal.role, allowed: [...roles] } });
    }
    next();
  };
}
