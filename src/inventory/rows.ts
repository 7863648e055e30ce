import { json, toBool, toIso, toNumberOrNull } from '../db/sql.js';
import type { BmcOutput, MachineOutput, NicOutput, RackOutput, SiteOutput } from './schemas.js';

/** Row ↔ wire mapping, normalising what the two drivers return differently (booleans, times, JSON). */

type Row = Record<string, unknown>;

const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function siteFromRow(r: Row): SiteOutput {
  return {
    id: String(r.id),
    code: String(r.code),
    name: String(r.name),
    country: String(r.country),
    city: String(r.city),
    timezone: String(r.timezone),
    delivery_window_hours: Number(r.delivery_window_hours),
    created_at: toIso(r.created_at)!,
    updated_at: toIso(r.updated_at)!,
  };
}

/** Expects the rack row joined with `sites.code as site_code`. */
export function rackFromRow(r: Row): RackOutput {
  return {
    id: String(r.id),
    site: String(r.site_code),
    name: String(r.name),
    row: str(r.row),
    height_u: Number(r.height_u),
    created_at: toIso(r.created_at)!,
    updated_at: toIso(r.updated_at)!,
  };
}

/** `tls_mode` + `tls_fingerprint` → the single wire/driver form. */
export function tlsFromColumns(mode: unknown, fingerprint: unknown): string {
  return mode === 'fingerprint' && fingerprint ? `sha256:${String(fingerprint)}` : String(mode ?? 'verify');
}

/** The wire form (already normalised by the schema) → the two columns. */
export function tlsToColumns(tls: string): { tls_mode: string; tls_fingerprint: string | null } {
  if (tls.startsWith('sha256:')) return { tls_mode: 'fingerprint', tls_fingerprint: tls.slice(7) };
  return { tls_mode: tls, tls_fingerprint: null };
}

export function bmcFromRow(r: Row): BmcOutput {
  return {
    protocol: String(r.protocol),
    host: String(r.host),
    port: toNumberOrNull(r.port),
    username: String(r.username),
    password_set: true,
    tls: tlsFromColumns(r.tls_mode, r.tls_fingerprint),
    system_id: str(r.system_id),
  };
}

export function nicFromRow(r: Row): NicOutput {
  return {
    name: String(r.name),
    mac: String(r.mac),
    pxe: toBool(r.pxe),
    switch: str(r.switch_name),
    switch_port: str(r.switch_port),
    ipv4: r.ipv4_address
      ? { address: String(r.ipv4_address), prefix: Number(r.ipv4_prefix), gateway: str(r.ipv4_gateway) }
      : null,
  };
}

/** Expects the machine row joined with `sites.code as site_code` and `racks.name as rack_name`. */
export function machineFromRow(r: Row, bmc: Row | undefined, nics: Row[]): MachineOutput {
  return {
    id: String(r.id),
    serial: String(r.serial),
    asset_tag: str(r.asset_tag),
    vendor: str(r.vendor),
    model: str(r.model),
    hardware_profile: String(r.hardware_profile),
    site: String(r.site_code),
    rack: str(r.rack_name),
    rack_unit: toNumberOrNull(r.rack_unit),
    provision_state: String(r.provision_state),
    last_error: str(r.last_error),
    maintenance: toBool(r.maintenance),
    maintenance_reason: str(r.maintenance_reason),
    health: String(r.health),
    power_state: String(r.power_state),
    power_state_at: toIso(r.power_state_at),
    hardware: json.read<Record<string, unknown> | null>(r.hardware, null),
    inventory_mismatch: json.read<MachineOutput['inventory_mismatch']>(r.inventory_mismatch, null),
    inspected_at: toIso(r.inspected_at),
    bmc: bmc ? bmcFromRow(bmc) : null,
    nics: nics.map(nicFromRow),
    created_at: toIso(r.created_at)!,
    updated_at: toIso(r.updated_at)!,
  };
}

/** NIC columns from a validated NicInput. */
export function nicColumns(nic: { name: string; mac: string; pxe?: boolean; switch?: string | null; switch_port?: string | null; ipv4?: { address: string; prefix: number; gateway?: string | null } | null }): Row {
  return {
    name: nic.name,
    mac: nic.mac,
    pxe: nic.pxe ?? false,
    switch_name: nic.switch ?? null,
    switch_port: nic.switch_port ?? null,
    ipv4_address: nic.ipv4?.address ?? null,
    ipv4_prefix: nic.ipv4?.prefix ?? null,
    ipv4_gateway: nic.ipv4?.gateway ?? null,
  };
}
