import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../paths.js';
import { builtinMockups, loadMockup } from './mockups.js';

const SHARED = join(packageRoot, '..', 'shared', 'redfish-mockups');

describe('Redfish mockups', () => {
  it('ships public-rackmount1 built in, with the resources Anvil reads', () => {
    expect(builtinMockups()).toContain('public-rackmount1');
    const m = loadMockup('public-rackmount1', 'builtin');
    expect(m.dir.endsWith('public-rackmount1.json')).toBe(true);
    expect(m.builtin).toBe(true);
    expect(m.systems).toEqual(['/redfish/v1/Systems/437XR1138R2']);
    for (const path of ['/redfish/v1', '/redfish/v1/SessionService', '/redfish/v1/Chassis/1U/Thermal', '/redfish/v1/Chassis/1U/Power', '/redfish/v1/Systems/437XR1138R2/SimpleStorage/1', '/redfish/v1/Systems/437XR1138R2/LogServices/Log1/Entries', '/redfish/v1/Managers/BMC']) {
      expect(m.docs.has(path)).toBe(true);
    }
    // Trimmed: certificate and update trees are not there.
    expect([...m.docs.keys()].some((p) => p.includes('Certificates') || p.startsWith('/redfish/v1/UpdateService'))).toBe(false);
  });

  it('falls back to the built-in copy when the folder does not hold the mockup', () => {
    const m = loadMockup('public-rackmount1', '/nonexistent/redfish-mockups');
    expect(m.dir).toBe(loadMockup('public-rackmount1', 'builtin').dir);
  });

  it('names the folder it tried when a mockup is neither there nor built in', () => {
    expect(() => loadMockup('public-bladed', '/nonexistent/redfish-mockups')).toThrow("Redfish mockup 'public-bladed' not found at /nonexistent/redfish-mockups/public-bladed and not built in");
    expect(() => loadMockup('public-bladed', 'builtin')).toThrow("Redfish mockup 'public-bladed' is not built in (built in: public-rackmount1)");
  });

  (existsSync(join(SHARED, 'public-rackmount1')) ? it : it.skip)('holds the DMTF documents unchanged', () => {
    const shipped = loadMockup('public-rackmount1', 'builtin');
    const original = loadMockup('public-rackmount1', SHARED);
    expect(original.dir).toBe(join(SHARED, 'public-rackmount1'));
    expect(original.builtin).toBe(false);
    for (const [path, doc] of shipped.docs) expect(doc).toEqual(original.docs.get(path));
  });
});
