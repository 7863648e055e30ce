import { join } from 'node:path';
import { listAudit } from '../../../src/db/repositories/audit.js';
import { packageRoot } from '../../../src/paths.js';
import { testDatabases } from '../../support/databases.js';
import { useCliDatabase } from '../../support/cli.js';

describe.each(testDatabases())('anvil inventory export --with-secrets on %s', (dialect) => {
  const cli = useCliDatabase(dialect, 'anvil-export-secrets-');
  const secretExports = () => listAudit(cli.db.knex, { action: 'inventory.export_secrets' });

  beforeAll(async () => {
    expect((await cli.run(['inventory', 'import', join(packageRoot, 'inventory.example.yaml')])).code).toBe(0);
  });

  it('without --with-secrets: no passwords, no warning, no audit row', async () => {
    const r = await cli.run(['inventory', 'export']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('password:');
    expect(r.messages).toEqual([]);
    expect(await secretExports()).toHaveLength(0);
  });

  it('with --with-secrets: the same export with passwords, a warning on stderr and one audit row naming who', async () => {
    const bmcs = Number((await cli.db.knex('machine_bmcs').count({ n: '*' }))[0]!.n);
    expect(bmcs).toBeGreaterThan(1);
    const r = await cli.run(['inventory', 'export', '--with-secrets']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('password: calvin-example-1');
    expect(r.stdout.match(/^\s+password: /gm)).toHaveLength(bmcs);
    expect(r.messages).toEqual([
      `anvil: warning: this export holds ${bmcs} BMC passwords in clear text; store it like a secret (audited as inventory.export_secrets)`,
    ]);
    expect(r.stderr).not.toContain('calvin-example');
    const rows = await secretExports();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: expect.stringMatching(/^cli:/), targetType: 'inventory', targetId: null, after: { bmc_records: bmcs } });
    expect(Date.now() - Date.parse(rows[0]!.at)).toBeLessThan(60_000);
    expect(JSON.stringify(rows[0])).not.toContain('calvin-example');
  });
});
