import { listAudit } from '../../../src/db/repositories/audit.js';
import { ManualClock } from '../../../src/clock.js';
import { AuthenticationError, ConflictError, InputError, NotFoundError } from '../../../src/errors.js';
import { TokenService, hashToken } from '../../../src/tokens/service.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';

describe.each(testDatabases())('TokenService on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  const actor = { name: 'cli:ops', requestId: null };

  it('creates a recognisable token, stores only its hash and prefix, and audits the creation', async () => {
    const svc = new TokenService({ knex: t.knex });
    const { token, record } = await svc.create({ name: 'deploy-bot', role: 'pipeline' }, actor);
    expect(token).toMatch(/^anv_[A-Za-z0-9_-]{43}$/);
    expect(record).toMatchObject({ name: 'deploy-bot', role: 'pipeline', prefix: token.slice(0, 12), last_used_at: null, revoked_at: null });
    const row = await t.knex('api_tokens').where({ name: 'deploy-bot' }).first();
    expect(row.token_hash).toBe(hashToken(token));
    expect(JSON.stringify(row)).not.toContain(token);
    const audit = await listAudit(t.knex, { targetType: 'token', targetId: 'deploy-bot' });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'token.create', actor: 'cli:ops' });
    expect(JSON.stringify(audit[0])).not.toContain(token);
  });

  it('authenticates a token and records when it was last used, at most once a minute', async () => {
    const clock = new ManualClock('2026-11-26T10:00:00.000Z');
    const svc = new TokenService({ knex: t.knex, clock });
    const { token } = await svc.create({ name: 'tech-1', role: 'technician' }, actor);
    expect(await svc.authenticate(token)).toMatchObject({ name: 'tech-1', role: 'technician' });
    clock.advance(30_000);
    await svc.authenticate(token);
    let listed = (await svc.list()).find((x) => x.name === 'tech-1')!;
    expect(listed.last_used_at).toBe('2026-11-26T10:00:00.000Z');
    clock.advance(60_000);
    await svc.authenticate(token);
    listed = (await svc.list()).find((x) => x.name === 'tech-1')!;
    expect(listed.last_used_at).toBe('2026-11-26T10:01:30.000Z');
  });

  it('rejects unknown, malformed and revoked tokens alike', async () => {
    const svc = new TokenService({ knex: t.knex });
    const { token } = await svc.create({ name: 'to-revoke', role: 'viewer' }, actor);
    await expect(svc.authenticate('anv_' + 'x'.repeat(43))).rejects.toBeInstanceOf(AuthenticationError);
    await expect(svc.authenticate('no-prefix')).rejects.toBeInstanceOf(AuthenticationError);
    const revoked = await svc.revoke('to-revoke', actor);
    expect(revoked.revoked_at).not.toBeNull();
    await expect(svc.authenticate(token)).rejects.toThrow('invalid or revoked token');
    await expect(svc.revoke('to-revoke', actor)).rejects.toBeInstanceOf(ConflictError);
    await expect(svc.revoke('never-existed', actor)).rejects.toBeInstanceOf(NotFoundError);
    const audit = await listAudit(t.knex, { targetType: 'token', targetId: 'to-revoke', action: 'token.revoke' });
    expect(audit).toHaveLength(1);
  });

  it('refuses a duplicate name, a bad name and an unknown role', async () => {
    const svc = new TokenService({ knex: t.knex });
    await svc.create({ name: 'dup', role: 'viewer' }, actor);
    await expect(svc.create({ name: 'dup', role: 'admin' }, actor)).rejects.toThrow('token "dup" already exists');
    await expect(svc.create({ name: 'has space', role: 'admin' }, actor)).rejects.toBeInstanceOf(InputError);
    await expect(svc.create({ name: 'ok-name', role: 'root' }, actor)).rejects.toThrow('token role "root"');
  });

  it('lists tokens without the token or its hash', async () => {
    const svc = new TokenService({ knex: t.knex });
    const list = await svc.list();
    expect(list.length).toBeGreaterThan(0);
    for (const item of list) expect(Object.keys(item).sort()).toEqual(['created_at', 'last_used_at', 'name', 'prefix', 'revoked_at', 'role']);
  });
});
