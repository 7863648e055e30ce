import type { PowerAction } from '../../driver.js';
import { genericResetTypes, standardBootBody, type BootPatchInput, type VendorAdapter } from './adapter.js';

/**
 * Supermicro X10/X11/X12/X13 BMCs.
 *
 * - Boot: the BMC treats the Boot PATCH as the whole override and resets any property left out
 *   to its default (e.g. BootSourceOverrideMode back to Legacy), so the full object — target,
 *   enabled and mode — is always sent. DMTF Redfishtool PR #106 ("Supermicro don't respect the
 *   existing override mode ... revert to default value if it is not explicitly passed") and
 *   ironcore-dev/metal-operator PR #607 ("Set UEFI boot mode override explicitly on Supermicro").
 * - But X10-era firmware has no BootSourceOverrideMode at all and rejects it with
 *   PropertyValueNotInList (metal-operator issue #982 / PR #985), so the mode is only sent when
 *   the system reports the property.
 * - Power: X10 firmware publishes no ResetType AllowableValues; these are the types it accepts.
 */
export const supermicroAdapter: VendorAdapter = {
  name: 'supermicro',
  resetTypes: (action: PowerAction) => genericResetTypes(action),
  assumedResetTypes: ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn'],
  bootPatch: (input: BootPatchInput) => ({
    path: input.systemPath,
    body: standardBootBody(input, { alwaysMode: true }),
    ifMatch: input.headerEtag ?? input.bodyEtag,
  }),
  oemHealth: () => [],
};
