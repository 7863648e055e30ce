import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { createApp } from '../../../src/api/app.js';
import { defineRoute } from '../../../src/api/route.js';
import { metaRoutes } from '../../../src/api/routes/meta.js';
import { connect } from '../../../src/db/connect.js';
import { createLogger, routeKnexLogs } from '../../../src/log.js';
import { SecretBox } from '../../../src/secrets/secret-box.js';

/** The app in situations a healthy database cannot produce: bugs, and a database that is gone. */
describe('HTTP API failure paths', () => {
  let server: Server;
  let url: string;
  let knex: Knex;
  const logs: string[] = [];

  beforeAll(async () => {
    // Port 1 on loopback: nothing listens there, so every connection attempt is refused at once.
    knex = connect({ dialect: 'postgres', location: 'postgres://anvil@127.0.0.1:1/anvil' });
    const logger = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk, _e, cb) {
          logs.push(String(chunk));
          cb();
        },
      }),
    });
    routeKnexLogs(knex, logger);
    const buggy = defineRoute({
      method: 'get',
      path: '/bug',
      summary: 'throws a programming error',
      tags: ['test'],
      roles: 'public',
      responses: { 200: { description: 'never' } },
      async handler() {
        const record = undefined as unknown as { password: string };
        return { status: 200, body: record.password };
      },
    });
    const scrape = defineRoute({
      method: 'get',
      path: '/scrape',
      summary: 'accepts its own credential besides API tokens',
      tags: ['test'],
      roles: ['admin'],
      altCredential: (token) => (token === 'scrape-secret-0123456789' ? 'scraper' : null),
      responses: { 200: { description: 'ok' } },
      async handler() {
        return { status: 200, text: 'up 1\n', contentType: 'text/plain' };
      },
    });
    const app = createApp({ knex, secrets: new SecretBox(randomBytes(32)), logger, routes: [...metaRoutes, buggy, scrape] });
    server = createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await knex.destroy();
  });

  it('answers 503 from /healthz when the database is unreachable', async () => {
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'unavailable', checks: { database: { ok: false, dialect: 'postgres', error: 'database unreachable' } } });
  });

  it('answers 500 internal without a stack trace for a bug, and logs the stack', async () => {
    const res = await fetch(`${url}/bug`, { headers: { 'x-request-id': 'bug-1' } });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { code: 'internal', message: 'internal error', details: null, request_id: 'bug-1' } });
    expect(text).not.toMatch(/TypeError|at |\.ts/);
    const line = logs.map((l) => JSON.parse(l)).find((l) => l.level === 'error' && l.request_id === 'bug-1');
    expect(line.err.stack).toContain('TypeError');
  });

  it('accepts a route\'s alternative credential without touching the token table', async () => {
    const ok = await fetch(`${url}/scrape`, { headers: { authorization: 'Bearer scrape-secret-0123456789' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('up 1\n');
    expect((await fetch(`${url}/scrape`)).status).toBe(401);
  });
});
