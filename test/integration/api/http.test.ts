import { testDatabases } from '../../support/databases.js';
import { BMC_PASSWORD, SITE, machineBody, useApi } from './harness.js';

describe.each(testDatabases())('HTTP API behaviour on %s', (dialect) => {
  const api = useApi(dialect);

  describe('authentication', () => {
    it('answers 401 unauthenticated without a token, with a WWW-Authenticate challenge', async () => {
      const res = await api.call('get', '/api/v1/machines', { role: null });
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe('unauthenticated');
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
    });

    it('answers 401 for an unknown token and for another auth scheme', async () => {
      expect((await api.call('get', '/api/v1/machines', { token: 'anv_not-a-real-token' })).status).toBe(401);
      const basic = await api.call('get', '/api/v1/machines', { role: null, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
      expect(basic.status).toBe(401);
      expect(basic.json.error.code).toBe('unauthenticated');
    });

    it('rejects a token once it is revoked', async () => {
      const created = await api.call('post', '/api/v1/tokens', { body: { name: 'short-lived', role: 'viewer' } });
      expect(created.status).toBe(201);
      const token = created.json.token as string;
      expect(token.startsWith('anv_')).toBe(true);
      expect((await api.call('get', '/api/v1/sites', { token })).status).toBe(200);
      expect((await api.call('delete', '/api/v1/tokens/short-lived')).status).toBe(200);
      const after = await api.call('get', '/api/v1/sites', { token });
      expect(after.status).toBe(401);
      expect(after.json.error.code).toBe('unauthenticated');
    });

    it('answers 403 forbidden naming the role when the role may not call the route', async () => {
      const res = await api.call('post', '/api/v1/sites', { role: 'viewer', body: SITE });
      expect(res.status).toBe(403);
      expect(res.json.error).toMatchObject({ code: 'forbidden', message: 'role viewer may not POST /api/v1/sites' });
    });
  });

  describe('request validation', () => {
    it('answers 400 for malformed JSON', async () => {
      const res = await api.call('post', '/api/v1/sites', { raw: '{"code": "MA-X1",' });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('invalid_input');
      expect(res.json.error.message).toMatch(/^malformed JSON body/);
    });

    it('answers 400 naming an unknown body field', async () => {
      const res = await api.call('post', '/api/v1/sites', { body: { ...SITE, colour: 'blue' } });
      expect(res.status).toBe(400);
      expect(res.json.error.details).toEqual([{ field: 'colour', message: 'unknown field', in: 'body' }]);
      expect(res.json.error.message).toBe('invalid body: colour: unknown field');
    });

    it('answers 400 naming an unknown query parameter, also on routes without query parameters', async () => {
      const a = await api.call('get', '/api/v1/machines?colour=blue');
      expect(a.status).toBe(400);
      expect(a.json.error.details[0]).toMatchObject({ field: 'colour', message: 'unknown field' });
      const b = await api.call('get', '/api/v1/tokens?all=1');
      expect(b.status).toBe(400);
      expect(b.json.error.details[0]).toMatchObject({ field: 'all' });
    });

    it('answers 400 with one detail per bad field', async () => {
      const res = await api.call('post', '/api/v1/sites', { body: { code: 'MA-NOU9', name: '', country: 'ma', city: 'x', timezone: 'Mars/Olympus' } });
      expect(res.status).toBe(400);
      const fields = (res.json.error.details as { field: string }[]).map((d) => d.field).sort();
      expect(fields).toEqual(['country', 'name', 'timezone']);
    });

    it('answers 415 for a body in a media type the route does not take', async () => {
      const res = await api.call('post', '/api/v1/sites', { raw: 'code=MA', type: 'application/x-www-form-urlencoded' });
      expect(res.status).toBe(415);
      expect(res.json.error.code).toBe('unsupported_media_type');
    });

    it('answers 413 for a body over the limit', async () => {
      const res = await api.call('post', '/api/v1/sites', { raw: JSON.stringify({ ...SITE, name: 'x'.repeat(2 * 1024 * 1024) }) });
      expect(res.status).toBe(413);
      expect(res.json.error.code).toBe('payload_too_large');
    });
  });

  describe('resources', () => {
    it('creates, reads, conflicts on and deletes a site', async () => {
      const created = await api.call('post', '/api/v1/sites', { role: 'technician', body: SITE });
      expect(created.status).toBe(201);
      expect(created.json).toMatchObject({ code: SITE.code, delivery_window_hours: 24 });
      const dup = await api.call('post', '/api/v1/sites', { body: SITE });
      expect(dup.status).toBe(409);
      expect(dup.json.error.code).toBe('conflict');
      const got = await api.call('get', `/api/v1/sites/${SITE.code}`, { role: 'viewer' });
      expect(got.status).toBe(200);
      expect(got.json.name).toBe(SITE.name);
      const list = await api.call('get', '/api/v1/sites', { role: 'pipeline' });
      expect(list.json.items.map((s: { code: string }) => s.code)).toContain(SITE.code);
    });

    it('answers 404 not_found for unknown ids and JSON 404 for unknown routes', async () => {
      const m = await api.call('get', '/api/v1/machines/no-such-machine');
      expect(m.status).toBe(404);
      expect(m.json.error.code).toBe('not_found');
      const r = await api.call('get', '/api/v1/nothing-here', { role: null });
      expect(r.status).toBe(404);
      expect(r.json.error).toMatchObject({ code: 'not_found', message: 'no route for GET /api/v1/nothing-here' });
    });

    it('answers 405 with an Allow header for a known path and another method', async () => {
      const res = await api.call('put', '/api/v1/machines/some-id', { body: {} });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, PATCH, DELETE, HEAD');
      expect(res.json.error.code).toBe('method_not_allowed');
    });

    it('enrols a machine and never returns or logs its BMC password', async () => {
      const created = await api.call('post', '/api/v1/machines', { body: machineBody('SER-PW-1', 'AA-BB-CC-00-00-01') });
      expect(created.status).toBe(201);
      expect(created.json.bmc).toMatchObject({ host: '10.10.0.5', password_set: true });
      expect(created.json.nics[0].mac).toBe('aa:bb:cc:00:00:01');
      const id = created.json.id as string;
      const bodies = [
        created.text,
        (await api.call('get', `/api/v1/machines/${id}`)).text,
        (await api.call('get', '/api/v1/machines')).text,
        (await api.call('patch', `/api/v1/machines/${id}`, { body: { bmc: { password: BMC_PASSWORD + '2' } } })).text,
        (await api.call('post', `/api/v1/machines/${id}/maintenance`, { body: { enabled: true, reason: 'fan swap' } })).text,
        (await api.call('get', '/api/v1/audit?target_type=machine')).text,
        (await api.call('get', '/api/v1/inventory/export', { role: 'viewer' })).text,
      ];
      for (const body of bodies) {
        expect(body).not.toContain(BMC_PASSWORD);
        expect(body).not.toContain('password_enc');
      }
      expect(api.logs.join('')).not.toContain(BMC_PASSWORD);
    });

    it('puts a machine into maintenance and requires a reason', async () => {
      const created = await api.call('post', '/api/v1/machines', { body: machineBody('SER-MAINT-1', 'aa:bb:cc:00:00:02') });
      const id = created.json.id as string;
      const missing = await api.call('post', `/api/v1/machines/${id}/maintenance`, { role: 'technician', body: { enabled: true } });
      expect(missing.status).toBe(400);
      expect(missing.json.error.details[0].field).toBe('reason');
      const on = await api.call('post', `/api/v1/machines/${id}/maintenance`, { role: 'technician', body: { enabled: true, reason: 'disk' } });
      expect(on.status).toBe(200);
      expect(on.json).toMatchObject({ maintenance: true, maintenance_reason: 'disk' });
      const filtered = await api.call('get', '/api/v1/machines?maintenance=true', { role: 'viewer' });
      expect(filtered.json.items.map((m: { serial: string }) => m.serial)).toContain('SER-MAINT-1');
    });

    it('pages machines with a cursor', async () => {
      for (let i = 0; i < 3; i++) {
        const r = await api.call('post', '/api/v1/machines', { body: machineBody(`SER-PAGE-${i}`, `aa:bb:cc:00:01:0${i}`) });
        expect(r.status).toBe(201);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Awaited<ReturnType<typeof api.call>> = await api.call('get', `/api/v1/machines?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        expect(res.json.items.length).toBeLessThanOrEqual(2);
        seen.push(...res.json.items.map((m: { serial: string }) => m.serial));
        cursor = res.json.next_cursor;
      } while (cursor);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining(['SER-PAGE-0', 'SER-PAGE-1', 'SER-PAGE-2']));
      const bad = await api.call('get', '/api/v1/machines?limit=0');
      expect(bad.status).toBe(400);
      expect(bad.json.error.details[0].field).toBe('limit');
    });

    it('deletes a machine and answers 404 afterwards', async () => {
      const created = await api.call('post', '/api/v1/machines', { body: machineBody('SER-DEL-1', 'aa:bb:cc:00:02:01') });
      expect((await api.call('delete', `/api/v1/machines/${created.json.id}`, { role: 'technician' })).status).toBe(204);
      expect((await api.call('get', `/api/v1/machines/${created.json.id}`)).status).toBe(404);
    });
  });

  describe('inventory import', () => {
    const yaml = [
      'sites:',
      '  - code: FR-PAR1',
      '    name: Paris 1',
      '    country: FR',
      '    city: Paris',
      '    timezone: Europe/Paris',
      'machines:',
      '  - serial: SER-IMP-1',
      '    hardware_profile: r640-std',
      '    site: FR-PAR1',
      '    bmc: { protocol: ipmi, host: 10.20.0.5, username: admin, password: pw-imp-1 }',
      '    nics:',
      '      - { name: eno1, mac: "aa:bb:cc:00:03:01", pxe: true }',
    ].join('\n');

    it('reports a dry run without writing, then imports a YAML body', async () => {
      const dry = await api.call('post', '/api/v1/inventory/import?dry_run=true', { raw: yaml, type: 'application/yaml', role: 'technician' });
      expect(dry.status).toBe(200);
      expect(dry.json.dry_run).toBe(true);
      expect(dry.json.created).toEqual(expect.arrayContaining([{ kind: 'site', key: 'FR-PAR1' }]));
      expect((await api.call('get', '/api/v1/sites/FR-PAR1')).status).toBe(404);
      const real = await api.call('post', '/api/v1/inventory/import', { raw: yaml, type: 'text/yaml' });
      expect(real.status).toBe(200);
      expect(real.json.dry_run).toBe(false);
      expect((await api.call('get', '/api/v1/machines/SER-IMP-1')).status).toBe(200);
    });

    it('answers 422 listing every problem with its line, and writes nothing', async () => {
      const bad = yaml.replace('country: FR', 'country: France').replace('aa:bb:cc:00:03:01', 'not-a-mac').replace(/FR-PAR1/g, 'FR-PAR2');
      const res = await api.call('post', '/api/v1/inventory/import', { raw: bad, type: 'application/yaml' });
      expect(res.status).toBe(422);
      expect(res.json.error.code).toBe('unprocessable');
      const details = res.json.error.details as { field: string; line: number }[];
      expect(details.length).toBeGreaterThanOrEqual(2);
      expect(details.every((d) => typeof d.line === 'number')).toBe(true);
      expect((await api.call('get', '/api/v1/sites/FR-PAR2')).status).toBe(404);
    });

    it('accepts the same document as JSON', async () => {
      const res = await api.call('post', '/api/v1/inventory/import?dry_run=1', { body: { sites: [{ code: 'DE-FRA1', name: 'Frankfurt', country: 'DE', city: 'Frankfurt', timezone: 'Europe/Berlin' }] } });
      expect(res.status).toBe(200);
      expect(res.json.created).toEqual([{ kind: 'site', key: 'DE-FRA1' }]);
    });

    it('exports YAML', async () => {
      const res = await api.call('get', '/api/v1/inventory/export');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/yaml/);
      expect(res.text).toContain('SER-IMP-1');
    });
  });

  describe('audit', () => {
    it('lists audit rows with filters and the request id that caused them', async () => {
      const created = await api.call('post', '/api/v1/sites', { body: { ...SITE, code: 'MA-AUD1' }, headers: { 'x-request-id': 'audit-test-1' } });
      expect(created.status).toBe(201);
      const res = await api.call('get', '/api/v1/audit?target_type=site&target_id=MA-AUD1', { role: 'technician' });
      expect(res.status).toBe(200);
      const rows = res.json.items as { actor: string; request_id: string; action: string }[];
      expect(rows.length).toBeGreaterThan(0);
      expect(rows[0]).toMatchObject({ actor: 'test-admin', request_id: 'audit-test-1' });
    });

    it('pages the audit log with a cursor', async () => {
      const first = await api.call('get', '/api/v1/audit?limit=1');
      expect(first.json.items).toHaveLength(1);
      expect(first.json.next_cursor).not.toBeNull();
      const second = await api.call('get', `/api/v1/audit?limit=1&cursor=${first.json.next_cursor}`);
      expect(second.json.items[0].id).toBeGreaterThan(first.json.items[0].id);
    });
  });

  describe('request ids', () => {
    it('echoes a sane incoming X-Request-Id, also on errors', async () => {
      const res = await api.call('get', '/api/v1/nothing', { headers: { 'x-request-id': 'lb-1234.abc' } });
      expect(res.headers.get('x-request-id')).toBe('lb-1234.abc');
      expect(res.json.error.request_id).toBe('lb-1234.abc');
    });

    it('replaces an unsafe incoming id with a generated one', async () => {
      const res = await api.call('get', '/healthz', { headers: { 'x-request-id': 'x'.repeat(200) } });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('healthz and OpenAPI', () => {
    it('reports the database reachable without a token', async () => {
      const res = await api.call('get', '/healthz', { role: null });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ status: 'ok', checks: { database: { ok: true, dialect } } });
    });

    it('serves an OpenAPI 3.1 document without a token', async () => {
      const res = await api.call('get', '/api/v1/openapi.json', { role: null });
      expect(res.status).toBe(200);
      expect(res.json.openapi).toBe('3.1.0');
      expect(res.json.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect(res.json.components.schemas.Machine.properties.bmc).toBeDefined();
    });
  });
});
