import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot, tsRegisterModule } from '../../src/paths.js';

/**
 * Running TypeScript sources in a child process (e.g. a server inside a network namespace) without
 * building dist/. Jest transpiles in-process only; a child is a plain `node`, so it is started as
 * `node --import test/support/ts-register.mjs entry.ts`. That module installs Node's module hooks
 * (`module.register`, Node ≥ 20.6; ts-hooks.mjs) which
 *   - resolve `./x.js` to `./x.ts` when only the TypeScript file exists (our import style), and
 *   - transpile `.ts` files with @swc/core (already a dev dependency, used by Jest) to ES modules.
 * No type checking happens in the child (`tsc --noEmit` covers that); startup costs ~150 ms.
 * The same works from a shell: `node --import ./test/support/ts-register.mjs bench/dhcp-perf.ts`.
 *
 *   lan.spawn('srv', process.execPath, tsNodeArgs('test/integration/boot/dhcp-server-child.ts', [cfg]));
 */

/** Arguments for `node` to run a TypeScript entry file (path relative to the package root). */
export function tsNodeArgs(entry: string, args: string[] = []): string[] {
  return ['--no-warnings', '--import', pathToFileURL(tsRegisterModule).href, join(packageRoot, entry), ...args];
}
