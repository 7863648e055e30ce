import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { MockAgent } from 'undici';
import { BmcAuthError, BmcError } from '../../errors.js';
import { RedfishClient } from './client.js';

// The client against undici's MockAgent: no sockets, every exchange scripted.
const ORIGIN = 'https://10.0.0.9';
const SYSTEM = '/redfish/v1/Systems/1';

describe('RedfishClient', () => {
  let mock: MockAgent;
  let pool: ReturnType<MockAgent['get']>;
  const client = (extra: Partial<ConstructorParameters<typeof RedfishClient>[0]> = {}) =>
    new RedfishClient({ host: '10.0.0.9', port: 443, username: 'root', password: 's3cret', tls: 'insecure', dispatcher: mock, taskPollMs: 1, ...extra });

  beforeEach(() => {
    mock = new MockAgent();
    mock.disableNetConnect();
    pool = mock.get(ORIGIN);
  });
  afterEach(async () => {
    await mock.close();
  });

  const session = (token = 'tok-1', id = '1') =>
    pool
      .intercept({ path: '/redfish/v1/SessionService/Sessions', method: 'POST', body: JSON.stringify({ UserName: 'root', Password: 's3cret' }) })
      .reply(201, { Id: id }, { headers: { 'x-auth-token': token, location: `/redfish/v1/SessionService/Sessions/${id}` } });

  it('creates one session, sends its token, and DELETEs it on close', async () => {
    session();
    pool.intercept({ path: SYSTEM, method: 'GET', headers: { 'x-auth-token': 'tok-1' } }).reply(200, { PowerState: 'On' }, { headers: { etag: '"e1"' } }).times(2);
    pool.intercept({ path: '/redfish/v1/SessionService/Sessions/1', method: 'DELETE', headers: { 'x-auth-token': 'tok-1' } }).reply(204, '');
    const c = client();
    const [a, b] = await Promise.all([c.get(SYSTEM), c.get(SYSTEM)]);
    expect(a.body).toEqual({ PowerState: 'On' });
    expect(b.etag).toBe('"e1"');
    expect(c.stats.sessionsCreated).toBe(1);
    await c.close();
    expect(c.stats.sessionsDeleted).toBe(1);
    mock.assertNoPendingInterceptors();
  });

  it('re-creates an expired session once on 401, then succeeds', async () => {
    session('old', '1');
    pool.intercept({ path: SYSTEM, method: 'GET', headers: { 'x-auth-token': 'old' } }).reply(401, {});
    session('new', '2');
    pool.intercept({ path: SYSTEM, method: 'GET', headers: { 'x-auth-token': 'new' } }).reply(200, { PowerState: 'Off' });
    const c = client();
    expect((await c.get(SYSTEM)).body).toEqual({ PowerState: 'Off' });
    expect(c.stats.sessionsCreated).toBe(2);
  });

  it('falls back to Basic auth when the service has no sessions', async () => {
    pool.intercept({ path: '/redfish/v1/SessionService/Sessions', method: 'POST' }).reply(405, {});
    const basic = `Basic ${Buffer.from('root:s3cret').toString('base64')}`;
    pool.intercept({ path: SYSTEM, method: 'GET', headers: { authorization: basic } }).reply(200, { PowerState: 'On' });
    const c = client();
    await c.get(SYSTEM);
    expect(c.authentication).toBe('basic');
  });

  it('wrong credentials: BmcAuthError naming the user, never the password', async () => {
    pool.intercept({ path: '/redfish/v1/SessionService/Sessions', method: 'POST' }).reply(401, {});
    const err = await client().get(SYSTEM).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BmcAuthError);
    expect((err as Error).message).toMatch(/user 'root'/);
    expect((err as Error).message).not.toContain('s3cret');
  });

  it('follows a 202 task monitor to completion', async () => {
    session();
    pool.intercept({ path: `${SYSTEM}/Actions/ComputerSystem.Reset`, method: 'POST' }).reply(202, {}, { headers: { location: '/redfish/v1/TaskService/TaskMonitors/7' } });
    pool.intercept({ path: '/redfish/v1/TaskService/TaskMonitors/7', method: 'GET' }).reply(202, { TaskState: 'Running' });
    pool.intercept({ path: '/redfish/v1/TaskService/TaskMonitors/7', method: 'GET' }).reply(200, { TaskState: 'Completed' });
    const res = await client().post(`${SYSTEM}/Actions/ComputerSystem.Reset`, { ResetType: 'On' });
    expect(res.body).toEqual({ TaskState: 'Completed' });
  });

  it('a task ending in Exception is BmcError with the task messages', async () => {
    session();
    pool.intercept({ path: `${SYSTEM}/Actions/ComputerSystem.Reset`, method: 'POST' }).reply(202, {}, { headers: { location: '/tm/8' } });
    pool.intercept({ path: '/tm/8', method: 'GET' }).reply(200, { TaskState: 'Exception', Messages: [{ MessageId: 'Base.1.8.InternalError', Message: 'Reset failed on the host' }] });
    await expect(client().post(`${SYSTEM}/Actions/ComputerSystem.Reset`, { ResetType: 'On' })).rejects.toThrow(/failed in BMC task \(Exception\): Reset failed on the host \(InternalError\)/);
  });

  it('4xx/5xx carry the extended message and the HTTP status', async () => {
    session();
    pool.intercept({ path: SYSTEM, method: 'PATCH' }).reply(400, {
      error: { code: 'Base.1.0.GeneralError', message: 'See ExtendedInfo', '@Message.ExtendedInfo': [{ MessageId: 'Base.1.0.PropertyValueNotInList', Message: 'The value UEFI for the property BootSourceOverrideMode is not in the list of acceptable values.' }] },
    });
    const err = await client().patch(SYSTEM, { Boot: { BootSourceOverrideMode: 'UEFI' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BmcError);
    expect((err as BmcError).details).toMatchObject({ httpStatus: 400 });
    expect((err as Error).message).toBe(
      'BMC 10.0.0.9:443: PATCH /redfish/v1/Systems/1 returned HTTP 400: The value UEFI for the property BootSourceOverrideMode is not in the list of acceptable values. (PropertyValueNotInList)',
    );
  });

  it('a garbage 200 body is BmcError "malformed JSON"; an HTML 502 keeps its text', async () => {
    session();
    pool.intercept({ path: SYSTEM, method: 'GET' }).reply(200, '{"PowerState": "On"');
    pool.intercept({ path: '/x', method: 'GET' }).reply(502, '<html><body>Bad Gateway</body></html>');
    const c = client();
    await expect(c.get(SYSTEM)).rejects.toThrow(/malformed JSON in response to GET \/redfish\/v1\/Systems\/1/);
    await expect(c.get('/x')).rejects.toThrow(/HTTP 502: <html><body>Bad Gateway<\/body><\/html>/);
  });
});
