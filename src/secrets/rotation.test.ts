import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import { SEALED_COLUMNS } from './rotation.js';

describe('SEALED_COLUMNS', () => {
  it('lists every *_enc column the migrations create, so a rotation leaves no secret behind', () => {
    const dir = join(packageRoot, 'migrations');
    const declared = new Set<string>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/\.(?:text|string)\('([a-z_]+_enc)'/g)) declared.add(m[1]!);
    }
    expect(declared.size).toBeGreaterThan(0);
    const listed = new Set(SEALED_COLUMNS.map((c) => c.column));
    for (const column of declared) expect(listed).toContain(column);
  });
});
