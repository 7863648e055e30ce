import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

/** The `--import` module that runs the TypeScript sources without a build (test/support/ts-child.ts). */
export const tsRegisterModule = join(packageRoot, 'test', 'support', 'ts-register.mjs');

/**
 * Where a worker thread's entry module sits beside `moduleUrl`, and the `execArgv` to start it with.
 * From dist/ that is the compiled `.js` file. From the TypeScript sources (Jest, or
 * `node --import test/support/ts-register.mjs`) it is the `.ts` file, and the thread needs the
 * TypeScript module hooks: a thread inherits them from a parent started with that `--import`, but not
 * from Jest, which transpiles in-process only.
 */
export function workerThreadEntry(moduleUrl: string, name: string): { filename: URL; execArgv?: string[] } {
  if (!moduleUrl.endsWith('.ts')) return { filename: new URL(`./${name}.js`, moduleUrl) };
  const filename = new URL(`./${name}.ts`, moduleUrl);
  const register = pathToFileURL(tsRegisterModule).href;
  const inherited = process.execArgv.some((arg) => arg.includes('ts-register'));
  return inherited ? { filename } : { filename, execArgv: [...process.execArgv, '--import', register] };
}
