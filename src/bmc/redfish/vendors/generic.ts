import type { PowerAction } from '../../driver.js';
import { genericResetTypes, standardBootBody, type BootPatchInput, type VendorAdapter } from './adapter.js';

/** DMTF-conformant services (OpenBMC bmcweb, the DMTF mockups, our simulator) need no quirks. */
export const genericAdapter: VendorAdapter = {
  name: 'generic',
  resetTypes: (action: PowerAction) => genericResetTypes(action),
  // DSP0268 ComputerSystem: a service without AllowableValues is assumed to do the basics.
  assumedResetTypes: ['On', 'ForceOff', 'GracefulShutdown', 'ForceRestart'],
  bootPatch: (input: BootPatchInput) => ({
    path: input.systemPath,
    body: standardBootBody(input, { alwaysMode: false }),
    ifMatch: input.headerEtag ?? input.bodyEtag,
  }),
  oemHealth: () => [],
};
