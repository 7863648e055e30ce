import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../../paths.js';

/**
 * The DMTF Redfish mockups (short form: `<mockup>/<path>/index.json` is the body of
 * `GET /redfish/v1/<path>`), loaded once per process and shared read-only by every simulated BMC.
 */

export type RedfishDoc = Record<string, unknown>;

export interface Mockup {
  name: string;
  /** The mockup's folder, or the built-in copy's file. */
  dir: string;
  /** Anvil's built-in copy (src/lab/redfish-sim/builtin/) rather than a folder of the DMTF's. */
  builtin: boolean;
  /** Resource path without trailing slash (`/redfish/v1`, `/redfish/v1/Systems/1`) → frozen body. */
  docs: ReadonlyMap<string, RedfishDoc>;
  /** ComputerSystem paths in collection order. */
  systems: string[];
}

/** Where the mockups live: option, else ANVIL_REDFISH_MOCKUPS, else `<packageRoot>/../shared/redfish-mockups`. */
export function resolveMockupsDir(dir?: string): string {
  return resolve(dir ?? process.env.ANVIL_REDFISH_MOCKUPS ?? join(packageRoot, '..', 'shared', 'redfish-mockups'));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const cache = new Map<string, Mockup>();

/** Mockups shipped with Anvil (trimmed DMTF copies, `builtin/`): the lab runs without ../shared. */
const BUILTIN_DIR = join(packageRoot, 'src', 'lab', 'redfish-sim', 'builtin');

/**
 * Loads (once) the named mockup: from the mockups folder (option, ANVIL_REDFISH_MOCKUPS, or
 * ../shared/redfish-mockups beside the package) when it holds it, else the built-in copy of the same
 * name (`Mockup.dir` tells which was used); throws with the paths tried when neither exists.
 */
export function loadMockup(name: string, dir?: string): Mockup {
  const validName = /^[A-Za-z0-9._-]+$/.test(name);
  const builtin = join(BUILTIN_DIR, `${name}.json`);
  // "builtin" (option or ANVIL_REDFISH_MOCKUPS) asks for the shipped copy whatever folders exist.
  if ((dir ?? process.env.ANVIL_REDFISH_MOCKUPS) === 'builtin') {
    if (validName && existsSync(builtin)) return loadBuiltin(name, builtin);
    throw new Error(`Redfish mockup '${name}' is not built in (built in: ${builtinMockups().join(', ') || 'none'})`);
  }
  const base = resolveMockupsDir(dir);
  const root = join(base, name);
  const cached = cache.get(root);
  if (cached) return cached;
  if (validName && !existsSync(join(root, 'index.json')) && existsSync(builtin)) return loadBuiltin(name, builtin);
  if (!validName || !existsSync(join(root, 'index.json'))) {
    throw new Error(`Redfish mockup '${name}' not found at ${root} and not built in (set ANVIL_REDFISH_MOCKUPS or the mockupsDir option)`);
  }
  const docs = new Map<string, RedfishDoc>();
  const walk = (dir: string, urlPath: string): void => {
    for (const entry of readdirSync(dir).sort()) {
      const full = join(dir, entry);
      if (entry === 'index.json') {
        const doc = JSON.parse(readFileSync(full, 'utf8')) as RedfishDoc;
        delete doc['@Redfish.Copyright'];
        docs.set(urlPath, deepFreeze(doc));
      } else if (statSync(full).isDirectory()) {
        walk(full, `${urlPath}/${entry}`);
      }
    }
  };
  walk(root, '/redfish/v1');
  return remember(root, name, docs, false);
}

function remember(key: string, name: string, docs: Map<string, RedfishDoc>, builtin: boolean): Mockup {
  const systemsDoc = docs.get('/redfish/v1/Systems');
  const members = Array.isArray(systemsDoc?.Members) ? (systemsDoc.Members as { '@odata.id'?: string }[]) : [];
  const systems = members.map((m) => m['@odata.id']).filter((p): p is string => typeof p === 'string' && docs.has(p));
  const mockup: Mockup = { name, dir: key, builtin, docs, systems };
  cache.set(key, mockup);
  return mockup;
}

/** Names of the mockups shipped with Anvil. */
export function builtinMockups(): string[] {
  return existsSync(BUILTIN_DIR) ? readdirSync(BUILTIN_DIR).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort() : [];
}

function loadBuiltin(name: string, file: string): Mockup {
  const cached = cache.get(file);
  if (cached) return cached;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { docs: Record<string, RedfishDoc> };
  const docs = new Map<string, RedfishDoc>();
  for (const [path, doc] of Object.entries(parsed.docs)) docs.set(path, deepFreeze(doc));
  return remember(file, name, docs, true);
}
