import type { RedfishDoc, VendorAdapter } from './adapter.js';
import { dellAdapter } from './dell.js';
import { genericAdapter } from './generic.js';
import { hpeAdapter } from './hpe.js';
import { lenovoAdapter } from './lenovo.js';
import { supermicroAdapter } from './supermicro.js';

export type { VendorAdapter, VendorName, BootPatch, BootPatchInput, RedfishDoc } from './adapter.js';
export { dellAdapter, genericAdapter, hpeAdapter, lenovoAdapter, supermicroAdapter };

const BY_PATTERN: [RegExp, VendorAdapter][] = [
  [/^dell/i, dellAdapter],
  [/^(hpe?|hewlett)/i, hpeAdapter],
  [/^supermicro/i, supermicroAdapter],
  [/^lenovo/i, lenovoAdapter],
];

function match(value: unknown): VendorAdapter | null {
  if (typeof value !== 'string') return null;
  for (const [pattern, adapter] of BY_PATTERN) if (pattern.test(value.trim())) return adapter;
  return null;
}

/**
 * Picks the adapter from the service root's `Vendor` (ServiceRoot ≥ 1.5), else the keys of its
 * `Oem` object (iLO publishes `Oem.Hpe`, iDRAC `Oem.Dell`), else the system's Manufacturer.
 */
export function detectVendor(root: RedfishDoc, system?: RedfishDoc | null): VendorAdapter {
  const byVendor = match(root.Vendor);
  if (byVendor) return byVendor;
  const oem = root.Oem;
  if (typeof oem === 'object' && oem !== null) {
    for (const key of Object.keys(oem)) {
      const byOem = match(key);
      if (byOem) return byOem;
    }
  }
  return match(system?.Manufacturer) ?? genericAdapter;
}
