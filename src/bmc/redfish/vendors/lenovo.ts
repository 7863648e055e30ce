import type { PowerAction } from '../../driver.js';
import { genericResetTypes, standardBootBody, type BootPatchInput, type VendorAdapter } from './adapter.js';

/**
 * Lenovo XClarity Controller (XCC/XCC2).
 *
 * - ETags: XCC requires If-Match on PATCH (428 Precondition Required without it: Ansible PR
 *   #56150, tested on Lenovo systems), and newer firmware rejects the `ETag` response header's
 *   value with 412 while accepting the resource's `@odata.etag` (Ansible community.general issue
 *   #11261 / PR #11270). So the body's `@odata.etag` is preferred over the header.
 * - Power: XCC has no PowerCycle; `cycle` becomes ForceRestart (or Off then On).
 */
export const lenovoAdapter: VendorAdapter = {
  name: 'lenovo',
  resetTypes: (action: PowerAction) => (action === 'cycle' ? ['ForceRestart'] : genericResetTypes(action)),
  assumedResetTypes: ['On', 'Nmi', 'GracefulShutdown', 'GracefulRestart', 'ForceOn', 'ForceOff', 'ForceRestart'],
  bootPatch: (input: BootPatchInput) => ({
    path: input.systemPath,
    body: standardBootBody(input, { alwaysMode: false }),
    ifMatch: input.bodyEtag ?? input.headerEtag,
  }),
  oemHealth: () => [],
};
