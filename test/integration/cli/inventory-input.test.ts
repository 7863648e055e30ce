import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testDatabases, useTestDatabase } from '../../support/databases.js';
import { tableCounts, useInventoryCli } from '../inventory/helpers.js';

describe.each(testDatabases())('anvil inventory import: unusable files on %s', (dialect) => {
  const t = useTestDatabase(dialect);
  const { run, dir, file } = useInventoryCli(t, 'anvil-inventory-input-');

  it('refuses an empty file like the API does', async () => {
    for (const content of ['', '# only a comment\n\n']) {
      const path = file('empty.yaml', content);
      expect(await run('import', path)).toEqual({ code: 1, stdout: '', stderr: `anvil: ${path}: empty inventory document\n` });
    }
  });

  it('refuses a binary file in one short line', async () => {
    const bin = readFileSync(process.execPath).subarray(0, 256 * 1024);
    const r = await run('import', file('binary.yaml', bin));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`anvil: ${join(dir(), 'binary.yaml')}: not a YAML text file (not valid UTF-8); nothing was written\n`);
  });

  it('refuses a UTF-8 file with control characters in one problem', async () => {
    const path = file('ctrl.yaml', `sites: []\nmachines: []\n${'\u0000'.repeat(40)}garbage\n`);
    const r = await run('import', path);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${path}:3 (yaml): not a YAML text file (control character U+0000)\nanvil: ${path}: 1 problem; nothing was written\n`);
  });

  it('names the file when refusing an alias bomb', async () => {
    const path = file('bomb.yaml', 'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nsites: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n');
    const r = await run('import', path);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(yaml\\): cannot expand the document: Excessive alias count`));
    expect(r.stderr).toContain(`anvil: ${path}: 1 problem; nothing was written\n`);
  });

  it('lists at most 50 problems, then says how many more', async () => {
    const machines = Array.from({ length: 60 }, (_, i) => `  - serial: M${i}\n    colour: blue\n`).join('');
    const path = file('many.yaml', `machines:\n${machines}`);
    const before = await tableCounts(t.knex);
    const r = await run('import', path);
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    const problems = lines.filter((l) => l.startsWith(`${path}:`));
    expect(problems).toHaveLength(50);
    expect(lines.at(-2)).toMatch(/^… and \d+ more$/);
    const total = Number(/: (\d+) problems; nothing was written$/.exec(lines.at(-1)!)![1]);
    expect(lines.at(-2)).toBe(`… and ${total - 50} more`);
    expect(await tableCounts(t.knex)).toEqual(before);
  });
});
