import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import { createApp } from '../../../src/api/app.js';
import { createLogger } from '../../../src/log.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';
import { TokenService } from '../../../src/tokens/service.js';
import { API_ROLES, type ApiRole } from '../../../src/tokens/roles.js';
import { useTestDatabase, type TestDialect } from '../../support/databases.js';

export interface ApiHarness {
  readonly url: string;
  readonly app: Express;
  readonly tokens: Record<ApiRole, string>;
  readonly knex: import('knex').Knex;
  /** The services the app's routes call (health, metrics…). */
  readonly services: import('../../../src/api/route.js').ApiServices;
  /** Every JSON log line the app wrote (checked for secrets). */
  readonly logs: string[];
  call(method: string, path: string, opts?: { role?: ApiRole | null; token?: string; body?: unknown; raw?: string; type?: string; headers?: Record<string, string> }): Promise<ApiResponse>;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * A real app over a real database on a real socket (127.0.0.1, port 0), with one token per role.
 * Registers beforeAll/afterAll hooks.
 */
export function useApi(dialect: TestDialect): ApiHarness {
  const db = useTestDatabase(dialect);
  let server: Server | undefined;
  let url = '';
  let app: Express | undefined;
  const tokens = {} as Record<ApiRole, string>;
  const logs: string[] = [];

  beforeAll(async () => {
    const secrets = new SecretBox(randomBytes(32));
    const logStream = new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    });
    const logger = createLogger({ level: 'debug', destination: logStream });
    app = createApp({ knex: db.knex, secrets, logger });
    const svc = new TokenService({ knex: db.knex });
    for (const role of API_ROLES) tokens[role] = (await svc.create({ name: `test-${role}`, role }, { name: 'test' })).token;
    server = createServer(app);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
  });

  return {
    get url() {
      return url;
    },
    get app() {
      return app!;
    },
    tokens,
    get knex() {
      return db.knex;
    },
    get services() {
      return app!.locals.services;
    },
    logs,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const role = opts.role === undefined ? 'admin' : opts.role;
      if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
      else if (role !== null) headers.authorization = `Bearer ${tokens[role]}`;
      let body: string | undefined;
      if (opts.raw !== undefined) {
        body = opts.raw;
        headers['content-type'] = opts.type ?? 'application/json';
      } else if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = opts.type ?? 'application/json';
      }
      const res = await fetch(url + path, { method: method.toUpperCase(), headers, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      let json: unknown = undefined;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, json };
    },
  };
}

export const SITE = { code: 'MA-NOU1', name: 'Nouacer 1', country: 'MA', city: 'Nouacer', timezone: 'Africa/Casablanca' };

export const BMC_PASSWORD = 'S3cret-bmc-Pa55word';

export function machineBody(serial: string, mac: string): Record<string, unknown> {
  return {
    serial,
    hardware_profile: 'r640-std',
    site: SITE.code,
    bmc: { protocol: 'redfish', host: '10.10.0.5', username: 'root', password: BMC_PASSWORD, tls: 'insecure' },
    nics: [{ name: 'eno1', mac, pxe: true }],
  };
}
