import type { BootDeviceRequest, ComponentHealth, ComponentStatus, PowerAction } from '../../driver.js';

/** A Redfish resource body as parsed JSON. */
export type RedfishDoc = Record<string, unknown>;

export type VendorName = 'dell' | 'hpe' | 'supermicro' | 'lenovo' | 'generic';

/** What the driver PATCHes to set a boot override. */
export interface BootPatch {
  /** The resource to PATCH; the ComputerSystem unless the vendor redirects (settings object). */
  path: string;
  body: RedfishDoc;
  /** Value of If-Match, or null to send none. */
  ifMatch: string | null;
}

export interface BootPatchInput {
  req: BootDeviceRequest;
  system: RedfishDoc;
  systemPath: string;
  /** ETag from the response header, and `@odata.etag` from the body. */
  headerEtag: string | null;
  bodyEtag: string | null;
}

/**
 * What differs between vendors' Redfish services. Adapters override only what differs and say
 * why, with a source, in a comment beside the quirk.
 */
export interface VendorAdapter {
  readonly name: VendorName;
  /** ResetType values to try for an action, most preferred first (filtered by what the BMC allows). */
  resetTypes(action: PowerAction): string[];
  /** Assumed `ResetType@Redfish.AllowableValues` when the BMC does not publish them. */
  readonly assumedResetTypes: readonly string[];
  bootPatch(input: BootPatchInput): BootPatch;
  /** Health facts found in the ComputerSystem's Oem section (no extra requests). */
  oemHealth(system: RedfishDoc): ComponentHealth[];
}

export const BOOT_TARGETS: Record<BootDeviceRequest['device'], string> = { pxe: 'Pxe', disk: 'Hdd', bios: 'BiosSetup' };
export const BOOT_MODES: Record<BootDeviceRequest['mode'], string> = { uefi: 'UEFI', legacy: 'Legacy' };

/** DSP0268 ComputerSystem.ResetType; the order is our preference per action. */
export function genericResetTypes(action: PowerAction): string[] {
  switch (action) {
    case 'on':
      return ['On', 'ForceOn', 'PushPowerButton'];
    case 'off':
      return ['ForceOff'];
    case 'soft-off':
      return ['GracefulShutdown'];
    case 'cycle':
      return ['PowerCycle', 'ForceRestart'];
    case 'reset':
      return ['ForceRestart', 'PowerCycle'];
  }
}

export function bootObject(system: RedfishDoc): RedfishDoc {
  const boot = system.Boot;
  return typeof boot === 'object' && boot !== null ? (boot as RedfishDoc) : {};
}

/** Whether the BMC exposes BootSourceOverrideMode at all (older firmware rejects the property). */
export function reportsBootMode(system: RedfishDoc): boolean {
  const boot = bootObject(system);
  return 'BootSourceOverrideMode' in boot || 'BootSourceOverrideMode@Redfish.AllowableValues' in boot;
}

/**
 * The DMTF-standard PATCH: target and enabled always; the mode only when the BMC has the property
 * and it must change, because Redfish clients should not echo properties they do not change
 * (DSP0266 §7.6 PATCH "properties not in the request are unchanged").
 */
export function standardBootBody(input: BootPatchInput, opts: { alwaysMode: boolean }): RedfishDoc {
  const boot: RedfishDoc = {
    BootSourceOverrideTarget: BOOT_TARGETS[input.req.device],
    BootSourceOverrideEnabled: input.req.persistent ? 'Continuous' : 'Once',
  };
  const current = bootObject(input.system).BootSourceOverrideMode;
  const wanted = BOOT_MODES[input.req.mode];
  if (reportsBootMode(input.system) && (opts.alwaysMode || current !== wanted)) boot.BootSourceOverrideMode = wanted;
  return { Boot: boot };
}

export function mapHealth(value: unknown): ComponentStatus {
  if (value === 'OK') return 'ok';
  if (value === 'Warning') return 'warning';
  if (value === 'Critical') return 'critical';
  return 'unknown';
}
