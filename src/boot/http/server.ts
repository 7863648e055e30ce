import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { NotFoundError } from '../../errors.js';
import { bootErrorHandler, createBootRouter, redactBootPath, type BootHttpDeps, type BootHttpStats } from './router.js';

export interface BootHttpConfig {
  /** Address and port to listen on (the boot network address; 0 picks a free port in tests). */
  host: string;
  port: number;
}

export interface BootHttpServer {
  readonly app: Express;
  readonly stats: BootHttpStats;
  start(): Promise<AddressInfo>;
  stop(): Promise<void>;
  address(): AddressInfo | null;
}

/**
 * The boot HTTP service as its own listener (not the API's): it faces the machines' network,
 * has no API authentication, and its access log redacts callback tokens from paths.
 */
export function createBootHttpServer(config: BootHttpConfig, deps: BootHttpDeps): BootHttpServer {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  const log = deps.logger;
  const { router, stats } = createBootRouter(deps);
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (res.statusCode >= 400) stats.rejected++;
      log.info(
        { method: req.method, path: redactBootPath(req.path), status: res.statusCode, remote: req.socket.remoteAddress, duration_ms: Math.round(ms * 10) / 10 },
        'boot http',
      );
    });
    next();
  });
  app.use(router);
  app.use((req) => {
    throw new NotFoundError(`no boot route for ${req.method} ${redactBootPath(req.path)}`);
  });
  app.use(bootErrorHandler(log));

  let server: Server | null = null;
  return {
    app,
    stats,
    async start() {
      if (server) return server.address() as AddressInfo;
      const s = app.listen(config.port, config.host);
      server = s;
      await once(s, 'listening');
      // Installers keep connections open between fetches; do not let one hold shutdown forever.
      s.keepAliveTimeout = 5000;
      s.headersTimeout = 10_000;
      s.requestTimeout = 60_000;
      return s.address() as AddressInfo;
    },
    async stop() {
      const s = server;
      server = null;
      if (!s) return;
      s.closeIdleConnections();
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      const timer = setTimeout(() => s.closeAllConnections(), 2000);
      await closed;
      clearTimeout(timer);
    },
    address() {
      return (server?.address() as AddressInfo | null) ?? null;
    },
  };
}
