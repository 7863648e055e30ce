import type { TLSSocket } from 'node:tls';
import { buildConnector } from 'undici';
import { InputError } from '../../errors.js';

/**
 * How Anvil trusts one BMC's HTTPS certificate. BMCs ship self-signed certificates whose names
 * rarely match their addresses, so besides CA verification an operator can pin the certificate's
 * SHA-256 fingerprint (trust on first use) or, as a last resort, skip verification.
 */
export type TlsPolicy = { mode: 'verify' } | { mode: 'insecure' } | { mode: 'pin'; fingerprint256: string };

/** Upper-case, colon-separated form (what `X509Certificate.fingerprint256` returns). */
export function normaliseFingerprint(value: string): string {
  const hex = value.replace(/^sha256:/i, '').replace(/[^0-9a-f]/gi, '').toUpperCase();
  if (hex.length !== 64) throw new InputError(`TLS fingerprint '${value}' is not a SHA-256 fingerprint (64 hex digits)`, { details: [{ field: 'tls', message: 'expected sha256:<64 hex digits>' }] });
  return hex.match(/../g)!.join(':');
}

export function parseTlsPolicy(tls: string): TlsPolicy {
  if (tls === 'verify') return { mode: 'verify' };
  if (tls === 'insecure') return { mode: 'insecure' };
  if (/^sha256:/i.test(tls)) return { mode: 'pin', fingerprint256: normaliseFingerprint(tls) };
  throw new InputError(`BMC tls '${tls}' must be 'verify', 'insecure' or 'sha256:<fingerprint>'`, { details: [{ field: 'tls', message: 'unknown TLS mode' }] });
}

/** Raised by the pinning connector; the client turns it into BmcUnreachableError. */
export class FingerprintMismatchError extends Error {
  readonly code = 'ANVIL_TLS_FINGERPRINT_MISMATCH';
  constructor(
    readonly expected: string,
    readonly actual: string | null,
  ) {
    super(`TLS certificate fingerprint mismatch: expected ${expected}, BMC presented ${actual ?? 'no certificate'}`);
  }
}

/**
 * The undici `connect` option for a policy. For pins the handshake accepts any certificate and
 * the connector then compares the peer certificate's SHA-256 fingerprint itself, before a single
 * request byte (and so before any credentials) is written.
 */
export function connectorFor(policy: TlsPolicy, opts: { connectTimeoutMs: number; ca?: string | undefined }): buildConnector.connector | Partial<buildConnector.BuildOptions> {
  if (policy.mode === 'verify') return { timeout: opts.connectTimeoutMs, ...(opts.ca ? { ca: opts.ca } : {}) };
  if (policy.mode === 'insecure') return { timeout: opts.connectTimeoutMs, rejectUnauthorized: false };
  // No session cache: a resumed session would skip the certificate exchange we check.
  const base = buildConnector({ timeout: opts.connectTimeoutMs, rejectUnauthorized: false, maxCachedSessions: 0 });
  return (options, callback) => {
    base(options, (err, socket) => {
      if (err || !socket) {
        callback(err ?? new Error('TLS connection failed'), null);
        return;
      }
      const cert = options.protocol === 'https:' ? (socket as TLSSocket).getPeerX509Certificate?.() : undefined;
      const actual = cert ? cert.fingerprint256.toUpperCase() : null;
      if (actual !== policy.fingerprint256) {
        socket.destroy();
        callback(new FingerprintMismatchError(policy.fingerprint256, actual), null);
        return;
      }
      callback(null, socket);
    });
  };
}
