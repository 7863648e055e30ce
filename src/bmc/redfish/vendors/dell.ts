import type { ComponentHealth, PowerAction } from '../../driver.js';
import { genericResetTypes, mapHealth, standardBootBody, type BootPatchInput, type RedfishDoc, type VendorAdapter } from './adapter.js';

/**
 * Dell iDRAC 8/9/10.
 *
 * - Boot override mode: iDRAC applies BootSourceOverrideTarget in the mode given in the same
 *   request and otherwise keeps the BIOS's current mode, so the mode is always sent when the
 *   property exists (Ironic's idrac-redfish management interface and DMTF Redfishtool PR #106
 *   "set BootSourceOverrideMode explicitly" discuss the same behaviour).
 * - iDRAC 10 marks `Boot` read-only on the ComputerSystem and takes changes through the
 *   `@Redfish.Settings` SettingsObject, with ETag concurrency (gofish PR #511, tested on a
 *   PowerEdge R470). When the system advertises a settings object, the PATCH goes there.
 * - Power: iDRAC 9 lists `PowerCycle`, which it implements as a cold boot (AC off/on of the
 *   host), the closest match to our `cycle`.
 * - Health: `Oem.Dell.DellSystem.*RollupStatus` summarise CPU, memory, storage, fans, PSUs,
 *   temperatures and voltages without extra requests (iDRAC Redfish API guide, DellSystem schema).
 */
export const dellAdapter: VendorAdapter = {
  name: 'dell',
  resetTypes: (action: PowerAction) => genericResetTypes(action),
  assumedResetTypes: ['On', 'ForceOff', 'ForceRestart', 'GracefulRestart', 'GracefulShutdown', 'PushPowerButton', 'Nmi', 'PowerCycle'],
  bootPatch: (input: BootPatchInput) => {
    const settings = input.system['@Redfish.Settings'] as { SettingsObject?: { '@odata.id'?: unknown } } | undefined;
    const settingsPath = settings?.SettingsObject?.['@odata.id'];
    return {
      path: typeof settingsPath === 'string' ? settingsPath : input.systemPath,
      body: standardBootBody(input, { alwaysMode: true }),
      ifMatch: input.headerEtag ?? input.bodyEtag,
    };
  },
  oemHealth: (system: RedfishDoc): ComponentHealth[] => {
    const dell = (system.Oem as RedfishDoc | undefined)?.Dell as RedfishDoc | undefined;
    const dellSystem = dell?.DellSystem as RedfishDoc | undefined;
    if (!dellSystem) return [];
    return Object.entries(dellSystem)
      .filter(([key, value]) => /RollupStatus$/.test(key) && typeof value === 'string')
      .map(([key, value]): ComponentHealth => ({
        component: `oem:dell:${key}`,
        kind: 'other',
        status: mapHealth(value === 'Unknown' ? undefined : value),
        reading: null,
        message: `iDRAC ${key.replace(/RollupStatus$/, '')} rollup: ${String(value)}`,
      }));
  },
};
