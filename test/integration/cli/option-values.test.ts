import { testDatabases } from '../../support/databases.js';
import { useCliDatabase } from '../../support/cli.js';

// A bad option value is wrong usage (exit 2, naming the option and what it accepts), checked before
// the command touches the database: it used to reach a service whose InputError exited 1.
describe.each(testDatabases())('invalid CLI option values on %s', (dialect) => {
  const cli = useCliDatabase(dialect, 'anvil-cli-values-');

  it('token create --role with an unknown role exits 2, names --role and the roles, creates nothing', async () => {
    const r = await cli.run(['token', 'create', '--role', 'superuser', '--name', 'x']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.messages[0]).toBe('anvil: --role must be one of admin, technician, pipeline, viewer (got "superuser")');
    expect(r.stderr).toContain('Usage:\n  anvil token create --role ROLE --name NAME');
    expect(Number((await cli.db.knex('api_tokens').count({ n: '*' }))[0]!.n)).toBe(0);
  });

  it('token create --name that is not a token name exits 2 and names --name', async () => {
    const r = await cli.run(['token', 'create', '--role', 'viewer', '--name', 'has space']);
    expect(r.code).toBe(2);
    expect(r.messages[0]).toMatch(/^anvil: --name must be letters, digits, and \. _ @ - .*\(got "has space"\)$/);
  });

  it('order list --status, --clock and --limit with bad values exit 2 naming the option', async () => {
    const status = await cli.run(['order', 'list', '--status', 'bogus']);
    expect(status.code).toBe(2);
    expect(status.messages[0]).toBe('anvil: --status must be one of received, allocated, provisioning, delivered, failed, cancelled, terminated (got "bogus")');
    const clock = await cli.run(['order', 'list', '--clock', 'late']);
    expect(clock.code).toBe(2);
    expect(clock.messages[0]).toBe('anvil: --clock must be one of on_track, at_risk, breached, met, missed (got "late")');
    for (const limit of ['abc', '0', '501', '1.5']) {
      const r = await cli.run(['order', 'list', '--limit', limit]);
      expect({ limit, code: r.code, message: r.messages[0] }).toEqual({ limit, code: 2, message: `anvil: --limit must be a whole number from 1 to 500 (got "${limit}")` });
    }
  });

  it('incident list --deadline-status, --severity and --limit with bad values exit 2 naming the option', async () => {
    const deadline = await cli.run(['incident', 'list', '--deadline-status', 'bogus']);
    expect(deadline.code).toBe(2);
    expect(deadline.messages[0]).toBe('anvil: --deadline-status must be one of on_track, at_risk, breached, met, missed (got "bogus")');
    expect((await cli.run(['incident', 'list', '--severity', 'huge'])).messages[0]).toBe('anvil: --severity must be one of major, minor (got "huge")');
    const limit = await cli.run(['incident', 'list', '--limit', 'abc']);
    expect({ code: limit.code, message: limit.messages[0] }).toEqual({ code: 2, message: 'anvil: --limit must be a whole number from 1 to 1000 (got "abc")' });
    expect((await cli.run(['incident', 'list', '--deadline-status', 'breached', '--limit', '5'])).code).toBe(0);
  });

  it('still accepts the valid values', async () => {
    expect((await cli.run(['order', 'list', '--status', 'delivered', '--clock', 'met', '--limit', '500'])).code).toBe(0);
    const t = await cli.run(['token', 'create', '--role', 'pipeline', '--name', 'ci@example.com']);
    expect(t.code).toBe(0);
  });
});
