import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { bearerToken } from '../api/auth.js';
import type { AnvilMetrics } from './metrics.js';

export interface MetricsServerOptions {
  metrics: AnvilMetrics;
  /** config `metrics.listen`: a separate address (e.g. a management network) for scrapers. */
  host: string;
  port: number;
  /** config `metrics.token`: when set, scrapers must send `Authorization: Bearer <token>`. */
  token?: string | null;
}

/** True when `given` equals `expected`, compared in constant time. */
export function tokenMatches(given: string | undefined, expected: string | null | undefined): boolean {
  if (!given || !expected) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Serves `GET /metrics` alone on its own address, so Prometheus never needs an API token: the
 * address itself (bound to a management interface) is the protection, plus `token` if configured.
 */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (opts.token && !tokenMatches(bearerToken(req.headers.authorization), opts.token)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="anvil-metrics"' }).end('unauthenticated\n');
      return;
    }
    opts.metrics.render().then(
      ({ contentType, text }) => res.writeHead(200, { 'content-type': contentType }).end(text),
      () => res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${host}:${addr.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
