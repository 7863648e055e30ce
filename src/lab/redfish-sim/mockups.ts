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
  dir: string;
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

/** Loads (once) the named mockup; throws with the path tried when it is missing. */
export function loadMockup(name: string, dir?: string): Mockup {
  const base = resolveMockupsDir(dir);
  const root = join(base, name);
  const cached = cache.get(root);
  if (cached) return cached;
  if (!/^[A-Za-z0-9._-]+$/.test(name) || !existsSync(join(root, 'index.json'))) {
    throw new Error(`Redfish mockup '${name}' not found at ${root} (set ANVIL_REDFISH_MOCKUPS or the mockupsDir option)`);
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
  const systemsDoc = docs.get('/redfish/v1/Systems');
  const members = Array.isArray(systemsDoc?.Members) ? (systemsDoc.Members as { '@odata.id'?: string }[]) : [];
  const systems = members.map((m) => m['@odata.id']).filter((p): p is string => typeof p === 'string' && docs.has(p));
  const mockup: Mockup = { name, dir: root, docs, systems };
  cache.set(root, mockup);
  return mockup;
}
