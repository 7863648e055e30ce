import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root (where package.json, migrations/ and pxe-templates/ live). Found by walking up
 * from this file, so it is the same whether running from src/ (tests) or dist/src/ (installed).
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'migrations'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot locate the anvil package root');
    dir = parent;
  }
}

export const packageRoot = findPackageRoot();
export const templatesDir = join(packageRoot, 'pxe-templates');
