import type { ComponentHealth, PowerAction } from '../../driver.js';
import { genericResetTypes, mapHealth, standardBootBody, type BootPatchInput, type RedfishDoc, type VendorAdapter } from './adapter.js';

/**
 * HPE iLO 4/5/6.
 *
 * - ETags: iLO returns weak validators (`W/"..."`) and some firmware answers 412 to an If-Match
 *   carrying one even when the resource is unchanged (Ansible community.general PR #3268 found a
 *   vendor double-quoting its ETag and had to disable If-Match; RFC 9110 §13.1.1 says If-Match
 *   uses strong comparison, so a weak tag can never match). With a weak ETag we PATCH without
 *   If-Match; with a strong one we send it.
 * - Power: iLO lists no `PowerCycle`; `cycle` becomes ForceRestart. Older iLO 4 firmware lacks
 *   GracefulShutdown, where a momentary PushPowerButton is the ACPI request (Foreman
 *   smart-proxy `modules/bmc/redfish/hpe.rb` uses PushPowerButton for soft power-off).
 * - Health: `Oem.Hpe.AggregateHealthStatus` (iLO 5) carries per-subsystem health in the
 *   ComputerSystem itself (iLO RESTful API reference, ComputerSystem resource definitions).
 */
export const hpeAdapter: VendorAdapter = {
  name: 'hpe',
  resetTypes: (action: PowerAction) => (action === 'soft-off' ? ['GracefulShutdown', 'PushPowerButton'] : action === 'cycle' ? ['ForceRestart'] : genericResetTypes(action)),
  assumedResetTypes: ['On', 'ForceOff', 'GracefulShutdown', 'ForceRestart', 'Nmi', 'PushPowerButton'],
  bootPatch: (input: BootPatchInput) => {
    const etag = input.headerEtag ?? input.bodyEtag;
    return {
      path: input.systemPath,
      body: standardBootBody(input, { alwaysMode: false }),
      ifMatch: etag && !etag.startsWith('W/') ? etag : null,
    };
  },
  oemHealth: (system: RedfishDoc): ComponentHealth[] => {
    const oem = system.Oem as RedfishDoc | undefined;
    const hpe = (oem?.Hpe ?? oem?.Hp) as RedfishDoc | undefined;
    const aggregate = hpe?.AggregateHealthStatus as RedfishDoc | undefined;
    if (!aggregate) return [];
    const out: ComponentHealth[] = [];
    for (const [key, value] of Object.entries(aggregate)) {
      const status = (value as { Status?: { Health?: unknown } } | null)?.Status?.Health;
      if (status === undefined) continue;
      out.push({ component: `oem:hpe:${key}`, kind: 'other', status: mapHealth(status), reading: null, message: `iLO ${key} health: ${String(status)}` });
    }
    return out;
  },
};
