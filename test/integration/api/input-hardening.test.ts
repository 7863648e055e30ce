import { testDatabases } from '../../support/databases.js';
import { SITE, machineBody, useApi } from './harness.js';

const NUL = '\u0000';

/** Nested aliases: each level multiplies the expansion, far past the 100-alias limit. */
const ALIAS_BOMB = [
  'a: &a [x, x, x, x, x, x, x, x, x]',
  'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
  'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
  'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
  'e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
  'sites: [*e, *e, *e, *e, *e, *e, *e, *e, *e]',
  '',
].join('\n');

describe.each(testDatabases())('API input hardening on %s', (dialect) => {
  const api = useApi(dialect);

  beforeAll(async () => {
    expect((await api.call('post', '/api/v1/sites', { body: SITE })).status).toBe(201);
    expect((await api.call('post', '/api/v1/machines', { body: machineBody('HARD-1', '52:54:00:00:20:01') })).status).toBe(201);
  });

  describe('NUL characters are a 400 naming the field on both databases', () => {
    it.each([
      ['an order body field', 'post', '/api/v1/orders', { external_id: `W${NUL}1`, customer_id: `c${NUL}` }, 'body', ['external_id', 'customer_id']],
      ['a maintenance reason', 'post', '/api/v1/machines/HARD-1/maintenance', { enabled: true, reason: `fan${NUL}` }, 'body', ['reason']],
      ['a nested body field', 'post', '/api/v1/machines', { ...machineBody('HARD-2', '52:54:00:00:20:02'), nics: [{ name: `e${NUL}`, mac: '52:54:00:00:20:02' }] }, 'body', ['nics[0].name']],
      ['a JSON inventory import', 'post', '/api/v1/inventory/import', { sites: [{ ...SITE, code: 'PT-NUL1', city: `Lis${NUL}boa` }] }, 'body', ['sites[0].city']],
      ['a query parameter', 'get', '/api/v1/machines?profile=a%00b', undefined, 'query', ['profile']],
      ['an audit filter', 'get', '/api/v1/audit?target_id=a%00b', undefined, 'query', ['target_id']],
      ['a path parameter', 'get', '/api/v1/machines/a%00b', undefined, 'params', ['id']],
      ['a path parameter on a write', 'delete', '/api/v1/sites/a%00b', undefined, 'params', ['code']],
    ])('%s', async (_what, method, path, body, where, fields) => {
      const res = await api.call(method, path, body === undefined ? {} : { body, headers: { 'idempotency-key': 'nul-test-key-1' } });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('invalid_input');
      expect(res.json.error.message).toContain(`invalid ${where}: ${fields[0]}: must not contain a NUL character`);
      expect(res.json.error.details).toEqual(fields.map((field) => ({ field, message: expect.stringContaining('NUL'), in: where })));
    });

    it('reports a NUL in a YAML import with its line, and writes nothing', async () => {
      const yaml = `sites:\n  - code: PT-NUL2\n    name: Lisboa\n    country: PT\n    city: "Lis\\0boa"\n    timezone: Europe/Lisbon\n`;
      const res = await api.call('post', '/api/v1/inventory/import', { raw: yaml, type: 'application/yaml' });
      expect(res.status).toBe(422);
      expect(res.json.error.details).toEqual([{ file: 'request body', line: 5, field: 'sites[0].city', message: expect.stringContaining('NUL') }]);
      expect((await api.call('get', '/api/v1/sites/PT-NUL2')).status).toBe(404);
    });
  });

  describe('malformed percent-encoding in the path is a 400, also without a token', () => {
    it.each(['/api/v1/machines/%ZZ', '/api/v1/sites/%E0%A4%A', '/api/v1/orders/%ZZ'])('%s', async (path) => {
      for (const role of [null, 'admin'] as const) {
        const res = await api.call('get', path, { role });
        expect(res.status).toBe(400);
        expect(res.json.error).toMatchObject({ code: 'invalid_input', message: expect.stringContaining('percent-encoding'), details: [{ field: 'path', in: 'params' }] });
      }
      expect(api.logs.join('')).not.toContain('unhandled error');
    });
  });

  describe('inventory import edge cases', () => {
    it('refuses an alias bomb with a problem naming the document, not a 500', async () => {
      const res = await api.call('post', '/api/v1/inventory/import', { raw: ALIAS_BOMB, type: 'application/yaml' });
      expect(res.status).toBe(422);
      expect(res.json.error.details).toEqual([{ file: 'request body', field: '(yaml)', message: expect.stringMatching(/alias/i) }]);
    });

    it('refuses a document with only whitespace and comments like an empty body', async () => {
      const empty = await api.call('post', '/api/v1/inventory/import', { raw: '', type: 'application/yaml' });
      expect(empty.status).toBe(400);
      const blank = await api.call('post', '/api/v1/inventory/import', { raw: '\n# nothing here\n   \n', type: 'application/yaml' });
      expect(blank.status).toBe(400);
      expect(blank.json.error.message).toContain('empty inventory document');
    });

    it('refuses binary content with one short problem', async () => {
      const res = await api.call('post', '/api/v1/inventory/import', { raw: `\u007fELF\u0002\u0001\u0001${NUL.repeat(9)}${'x'.repeat(5000)}`, type: 'application/yaml' });
      expect(res.status).toBe(422);
      expect(res.json.error.details).toEqual([{ file: 'request body', line: 1, field: '(yaml)', message: 'not a YAML text file (control character U+007F)' }]);
    });
  });

  describe('error bodies', () => {
    it.each([
      ['malformed JSON', 'post', '/api/v1/sites', { raw: '{"code": ' }, 400],
      ['no token', 'get', '/api/v1/machines', { role: null }, 401],
      ['an unknown route', 'get', '/api/v1/nothing-here', {}, 404],
      ['an unknown machine', 'get', '/api/v1/machines/NOPE', {}, 404],
      ['a body over the limit', 'post', '/api/v1/sites', { raw: JSON.stringify({ ...SITE, name: 'x'.repeat(2 * 1024 * 1024) }) }, 413],
      ['a wrong media type', 'post', '/api/v1/sites', { raw: 'code=MA', type: 'application/x-www-form-urlencoded' }, 415],
    ] as const)('always carry details (null when there are none): %s', async (_what, method, path, opts, status) => {
      const res = await api.call(method, path, opts);
      expect(res.status).toBe(status);
      expect(Object.keys(res.json.error)).toEqual(['code', 'message', 'details', 'request_id']);
      expect(res.json.error.details).toBeNull();
    });

    it.each([
      ['null', 'null'],
      ['42', 'number'],
      ['"text"', 'string'],
    ])('a JSON body %s says the body must be an object', async (raw, got) => {
      const res = await api.call('post', '/api/v1/sites', { raw });
      expect(res.status).toBe(400);
      expect(res.json.error.message).toBe(`invalid body: the JSON body must be an object, not ${got}`);
      expect(res.json.error.details).toEqual([{ field: 'body', message: `must be a JSON object, not ${got}`, in: 'body' }]);
    });

    it('says what is wrong with an Idempotency-Key that is present', async () => {
      const order = {
        external_id: 'W-1', customer_id: 'c-1', contact_email: 'ops@customer.example', hardware_profile: 'r640-std', country: 'MA',
        os_image: 'debian-12', hostname: 'web1.customer.example', root_password: true, support_tier: 'managed', paid_at: new Date().toISOString(),
      };
      const short = await api.call('post', '/api/v1/orders', { role: 'pipeline', body: order, headers: { 'idempotency-key': 'short' } });
      expect(short.status).toBe(400);
      expect(short.json.error.details).toEqual([{ field: 'Idempotency-Key', message: 'must be 8-200 characters long (got 5)', in: 'header' }]);
      const chars = await api.call('post', '/api/v1/orders', { role: 'pipeline', body: order, headers: { 'idempotency-key': 'has spaces in it' } });
      expect(chars.json.error.details[0].message).toBe('may contain only letters, digits, . _ : -');
      const missing = await api.call('post', '/api/v1/orders', { role: 'pipeline', body: order });
      expect(missing.json.error.details[0].message).toBe('required header');
    });
  });
});
