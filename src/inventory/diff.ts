/**
 * Pure comparison of stored inventory against desired inventory, shared by `updateMachine`
 * and the importer. Field names in the result are what reports and audit rows show; a BMC
 * password is compared in memory and reported only as the field name `bmc.password`.
 */

export interface SiteSpec {
  code: string;
  name: string;
  country: string;
  city: string;
  timezone: string;
  delivery_window_hours: number;
}

export interface RackSpec {
  site: string;
  name: string;
  row: string | null;
  height_u: number;
}

export interface NicSpec {
  name: string;
  mac: string;
  pxe: boolean;
  switch: string | null;
  switch_port: string | null;
  ipv4: { address: string; prefix: number; gateway: string | null } | null;
}

export interface BmcSpec {
  protocol: string;
  host: string;
  port: number | null;
  username: string;
  /** Plain text, in memory only. `undefined` in a desired spec means "keep the stored password". */
  password: string | undefined;
  tls: string;
  system_id: string | null;
}

export interface MachineSpec {
  serial: string;
  asset_tag: string | null;
  vendor: string | null;
  model: string | null;
  hardware_profile: string;
  site: string;
  rack: string | null;
  rack_unit: number | null;
  bmc: BmcSpec;
  nics: NicSpec[];
}

function changed<T extends object>(current: T, desired: T, keys: readonly (keyof T)[], prefix = ''): string[] {
  const out: string[] = [];
  for (const k of keys) {
    if (JSON.stringify(current[k] ?? null) !== JSON.stringify(desired[k] ?? null)) out.push(prefix + String(k));
  }
  return out;
}

export function diffSite(current: SiteSpec, desired: SiteSpec): string[] {
  return changed(current, desired, ['name', 'country', 'city', 'timezone', 'delivery_window_hours']);
}

export function diffRack(current: RackSpec, desired: RackSpec): string[] {
  return changed(current, desired, ['row', 'height_u']);
}

export function diffNics(current: readonly NicSpec[], desired: readonly NicSpec[]): string[] {
  const out: string[] = [];
  const byMac = new Map(current.map((n) => [n.mac, n]));
  const desiredMacs = new Set(desired.map((n) => n.mac));
  for (const nic of desired) {
    const was = byMac.get(nic.mac);
    if (!was) out.push(`nics[${nic.mac}] (added)`);
    else out.push(...changed(was, nic, ['name', 'pxe', 'switch', 'switch_port', 'ipv4'], `nics[${nic.mac}].`));
  }
  for (const nic of current) if (!desiredMacs.has(nic.mac)) out.push(`nics[${nic.mac}] (removed)`);
  return out;
}

/** Names of the fields that differ; `[]` means the machine is unchanged. */
export function diffMachine(current: MachineSpec, desired: MachineSpec): string[] {
  const out = changed(current, desired, ['asset_tag', 'vendor', 'model', 'hardware_profile', 'site', 'rack', 'rack_unit']);
  out.push(...changed(current.bmc, desired.bmc, ['protocol', 'host', 'port', 'username', 'tls', 'system_id'], 'bmc.'));
  if (desired.bmc.password !== undefined && desired.bmc.password !== current.bmc.password) out.push('bmc.password');
  out.push(...diffNics(current.nics, desired.nics));
  return out;
}
