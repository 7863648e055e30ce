import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../src/paths.js';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { tableCounts, useInventoryCli } from './helpers.js';

describe.each(testDatabases())('anvil inventory (CLI) on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  const { run, dir } = useInventoryCli(t, 'anvil-inventory-cli-');

  it('imports a file, printing what it created; a second run prints "no changes"', async () => {
    const example = join(packageRoot, 'inventory.example.yaml');
    const dry = await run('import', example, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would create machine DL7Q4N3');
    expect(dry.stdout).toContain('[dry run: nothing was written]');
    expect((await tableCounts(t.knex)).machines).toBe(0);

    const first = await run('import', example);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain('created site MA-NOU1\n');
    expect(first.stdout).toContain('created rack CA-MTL1/R01\n');
    expect(first.stdout).toMatch(/14 created, 0 updated, 0 unchanged\n$/);
    expect(await run('import', example)).toEqual({ code: 0, stdout: 'no changes (14 unchanged)\n', stderr: '' });
  });

  it('prints each problem as FILE:LINE field: message on stderr, exits 1 and writes nothing', async () => {
    const file = join(dir(), 'bad.yaml');
    writeFileSync(file, 'machines:\n  - serial: X1\n    hardware_profile: p\n    site: NO-SITE\n    bmc: {protocol: redfish, host: h, username: u, password: topsecret}\n    nics:\n      - {name: eno1, mac: "12:34"}\n');
    const before = await tableCounts(t.knex);
    const r = await run('import', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `${file}:4 machines[0].site: unknown site NO-SITE (not in this file or the database)\n` +
        `${file}:7 machines[0].nics[0].mac: not a MAC address\n` +
        `anvil: ${file}: 2 problems; nothing was written\n`,
    );
    expect(r.stderr).not.toContain('topsecret');
    expect(await tableCounts(t.knex)).toEqual(before);
  });

  it('reports an updated field by name', async () => {
    const file = join(dir(), 'changed.yaml');
    writeFileSync(file, readFileSync(join(packageRoot, 'inventory.example.yaml'), 'utf8').replace('model: SYS-510P-M', 'model: SYS-510P-MR'));
    const r = await run('import', file);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('updated machine S41298071: model\n0 created, 1 updated, 13 unchanged\n');
  });

  it('exports YAML to stdout, with passwords only when asked', async () => {
    const plain = await run('export');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('serial: DL7Q4N3');
    expect(plain.stdout).not.toMatch(/password:|calvin-example/);
    const secret = await run('export', '--with-secrets');
    expect(secret.stdout).toContain('password: calvin-example-1');
  });

  it('exits 2 on wrong usage and 1 on an unreadable file', async () => {
    expect((await run()).code).toBe(2);
    expect((await run('import')).stderr).toContain('inventory import needs a FILE');
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('export', '--bogus')).code).toBe(2);
    const missing = await run('import', join(dir(), 'missing.yaml'));
    expect(missing).toMatchObject({ code: 1, stderr: expect.stringContaining('ENOENT') });
    expect((await run('import', '--help')).code).toBe(0);
  });
});
