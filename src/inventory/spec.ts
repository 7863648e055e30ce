import type { MachineOutput } from './schemas.js';
import type { MachineSpec, NicSpec } from './diff.js';

/** Conversions into the comparable form `diff.ts` works on. */

/** A validated NicInput in comparable form. */
export function nicSpecFromInput(n: { name: string; mac: string; pxe?: boolean; switch?: string | null; switch_port?: string | null; ipv4?: { address: string; prefix: number; gateway?: string | null } | null }): NicSpec {
  return {
    name: n.name,
    mac: n.mac,
    pxe: n.pxe ?? false,
    switch: n.switch ?? null,
    switch_port: n.switch_port ?? null,
    ipv4: n.ipv4 ? { address: n.ipv4.address, prefix: n.ipv4.prefix, gateway: n.ipv4.gateway ?? null } : null,
  };
}

/** A validated machine input (MachineCreate output, or an import entry) in comparable form. */
export function machineSpecFromInput(m: {
  serial: string;
  asset_tag?: string | null;
  vendor?: string | null;
  model?: string | null;
  hardware_profile: string;
  site: string;
  rack?: string | null;
  rack_unit?: number | null;
  bmc: { protocol: string; host: string; port?: number | null; username: string; password?: string | undefined; tls?: string; system_id?: string | null };
  nics?: Parameters<typeof nicSpecFromInput>[0][];
}): MachineSpec {
  return {
    serial: m.serial,
    asset_tag: m.asset_tag ?? null,
    vendor: m.vendor ?? null,
    model: m.model ?? null,
    hardware_profile: m.hardware_profile,
    site: m.site,
    rack: m.rack ?? null,
    rack_unit: m.rack_unit ?? null,
    bmc: {
      protocol: m.bmc.protocol,
      host: m.bmc.host,
      port: m.bmc.port ?? null,
      username: m.bmc.username,
      password: m.bmc.password,
      tls: m.bmc.tls ?? 'verify',
      system_id: m.bmc.system_id ?? null,
    },
    nics: (m.nics ?? []).map(nicSpecFromInput),
  };
}

/** A stored machine (as returned by the service) in comparable form; `password` already opened. */
export function specFromMachine(m: MachineOutput, password: string | undefined): MachineSpec {
  return {
    serial: m.serial,
    asset_tag: m.asset_tag,
    vendor: m.vendor,
    model: m.model,
    hardware_profile: m.hardware_profile,
    site: m.site,
    rack: m.rack,
    rack_unit: m.rack_unit,
    bmc: {
      protocol: m.bmc?.protocol ?? 'redfish',
      host: m.bmc?.host ?? '',
      port: m.bmc?.port ?? null,
      username: m.bmc?.username ?? '',
      password,
      tls: m.bmc?.tls ?? 'verify',
      system_id: m.bmc?.system_id ?? null,
    },
    nics: m.nics.map((n) => ({ ...n })),
  };
}

/** The spec as an audit summary: everything but the password, which is only said to be set. */
export function auditSummary(id: string, spec: MachineSpec): Record<string, unknown> {
  const { password: _password, ...bmc } = spec.bmc;
  return { id, ...spec, bmc };
}
