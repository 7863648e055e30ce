import { InputError, type ErrorDetail } from '../../errors.js';
import { isIpv4 } from './options.js';
import { parseCidr, type Ipv4Network } from './net.js';

/** One site network the boot role serves (directly or through relay agents). */
export interface DhcpSubnetConfig {
  /** Site code (`sites.code`) the network belongs to. */
  site: string;
  /** The network in CIDR form, e.g. `10.20.0.0/24`. A reservation's address must lie inside it. */
  network: string;
  /** Default router (option 3) when the NIC record names none. */
  gateway?: string;
  /** DNS servers (option 6). */
  dns?: string[];
  /** Domain name (option 15). */
  domain?: string;
  /** Lease time (option 51) in seconds; default 3600. */
  leaseSeconds?: number;
}

/** Boot file names per client architecture, as found on the TFTP root / HTTP binaries path. */
export interface DhcpBootFiles {
  /** Legacy BIOS PXE (arch 0). Default `undionly.kpxe`. */
  bios: string;
  /** x86-64 UEFI (arch 7 and 9). Default `ipxe.efi`. */
  uefiX64: string;
  /** arm64 UEFI (arch 11). Default `snp.efi`. */
  uefiArm64: string;
}

/**
 * Configuration of the DHCP service of the `boot` role. The lead maps `anvil.yaml` onto this.
 *
 * Binding: Node cannot set SO_BINDTODEVICE, and broadcasts from address-less clients only reach
 * a socket bound to 0.0.0.0. The server therefore binds `bindAddress` (0.0.0.0 by default) and
 * decides per packet whether it belongs to the configured interface (see server.ts). The
 * deployment model is one boot role per site network segment; on a multi-homed host, run the
 * role in a network namespace holding only the boot interface, or filter port 67 with nftables.
 */
export interface DhcpConfig {
  /** `authoritative` hands out reserved addresses; `proxy` only adds PXE boot information
   *  (proxyDHCP, PXE 2.1 spec) on networks that already have a DHCP server. */
  mode: 'authoritative' | 'proxy';
  listen: {
    /** Interface the boot network is on (e.g. `eth1`); checked to hold `address` at start. */
    interface?: string;
    /** This host's IPv4 address on the boot network; clients without a relay must be on its subnet. */
    address: string;
    /** Socket bind address; 0.0.0.0 (default) is required to hear broadcasts. */
    bindAddress?: string;
    /** Server port, default 67 (0 picks a free port: tests). The PXE port (proxy mode) is 4011. */
    port?: number;
    proxyPort?: number;
    /** Client port replies go to, default 68. */
    clientPort?: number;
  };
  /** Option 54; defaults to `listen.address`. */
  serverId?: string;
  /** siaddr (TFTP server for the first-stage iPXE binary); defaults to `listen.address`. */
  nextServer?: string;
  bootFiles?: Partial<DhcpBootFiles>;
  /** Base URL of the boot HTTP service, e.g. `http://10.20.0.2:8080`; iPXE clients get
   *  `${httpBaseUrl}/boot/ipxe?mac=…`, UEFI HTTP boot clients `${httpBaseUrl}/ipxe/<file>`. */
  httpBaseUrl: string;
  /** When true, unknown MACs are recorded in `discovered_macs` (still never answered). */
  discovery?: boolean;
  subnets: DhcpSubnetConfig[];
}

/** `DhcpConfig` with defaults applied and networks parsed. */
export interface ResolvedDhcpConfig {
  mode: 'authoritative' | 'proxy';
  interface: string | null;
  address: string;
  bindAddress: string;
  port: number;
  proxyPort: number;
  clientPort: number;
  serverId: string;
  nextServer: string;
  bootFiles: DhcpBootFiles;
  httpBaseUrl: string;
  discovery: boolean;
  subnets: ResolvedSubnet[];
}

export interface ResolvedSubnet {
  site: string;
  network: Ipv4Network;
  gateway: string | null;
  dns: string[];
  domain: string | null;
  leaseSeconds: number;
}

export const DEFAULT_BOOT_FILES: DhcpBootFiles = { bios: 'undionly.kpxe', uefiX64: 'ipxe.efi', uefiArm64: 'snp.efi' };
export const DEFAULT_LEASE_SECONDS = 3600;

/** Validates and fills defaults; throws InputError listing every problem with its key. */
export function resolveDhcpConfig(c: DhcpConfig, keyPrefix = 'boot.dhcp'): ResolvedDhcpConfig {
  const problems: ErrorDetail[] = [];
  const bad = (field: string, message: string) => problems.push({ field: `${keyPrefix}.${field}`, message });
  const ip = (field: string, v: string | undefined): string => {
    if (v === undefined || !isIpv4(v)) bad(field, `"${v ?? ''}" is not an IPv4 address`);
    return v ?? '0.0.0.0';
  };
  const port = (field: string, v: number | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || v < 0 || v > 65535) bad(field, `${v} is not a UDP port`);
    return v;
  };

  if (c.mode !== 'authoritative' && c.mode !== 'proxy') bad('mode', `must be "authoritative" or "proxy", got "${String(c.mode)}"`);
  const address = ip('listen.address', c.listen?.address);
  const bindAddress = ip('listen.bindAddress', c.listen?.bindAddress ?? '0.0.0.0');
  const serverId = ip('serverId', c.serverId ?? address);
  const nextServer = ip('nextServer', c.nextServer ?? address);
  let httpBaseUrl = c.httpBaseUrl ?? '';
  try {
    const u = new URL(httpBaseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') bad('httpBaseUrl', 'must be an http:// or https:// URL');
    httpBaseUrl = httpBaseUrl.replace(/\/+$/, '');
  } catch {
    bad('httpBaseUrl', `"${httpBaseUrl}" is not a URL`);
  }
  const bootFiles = { ...DEFAULT_BOOT_FILES, ...(c.bootFiles ?? {}) };
  for (const [k, v] of Object.entries(bootFiles)) {
    if (typeof v !== 'string' || v.length === 0 || v.length > 127) bad(`bootFiles.${k}`, 'must be a file name of 1 to 127 characters');
  }
  const subnets: ResolvedSubnet[] = [];
  (c.subnets ?? []).forEach((s, i) => {
    const key = `subnets[${i}]`;
    let network: Ipv4Network | null = null;
    try {
      network = parseCidr(s.network);
    } catch (err) {
      bad(`${key}.network`, (err as Error).message);
    }
    if (!s.site) bad(`${key}.site`, 'is required');
    if (s.gateway !== undefined) ip(`${key}.gateway`, s.gateway);
    (s.dns ?? []).forEach((d, j) => ip(`${key}.dns[${j}]`, d));
    const lease = s.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
    if (!Number.isInteger(lease) || lease < 60 || lease > 0x7fffffff) bad(`${key}.leaseSeconds`, 'must be an integer number of seconds, at least 60');
    if (s.domain !== undefined && !/^[A-Za-z0-9.-]{1,253}$/.test(s.domain)) bad(`${key}.domain`, `"${s.domain}" is not a domain name`);
    if (network) {
      subnets.push({ site: s.site, network, gateway: s.gateway ?? null, dns: s.dns ?? [], domain: s.domain ?? null, leaseSeconds: lease });
    }
  });
  const ports = {
    port: port('listen.port', c.listen?.port, 67),
    proxyPort: port('listen.proxyPort', c.listen?.proxyPort, 4011),
    clientPort: port('listen.clientPort', c.listen?.clientPort, 68),
  };
  if (problems.length) throw new InputError(`${keyPrefix}: ${problems.map((p) => `${p.field} ${p.message}`).join('; ')}`, { details: problems });
  return {
    mode: c.mode,
    interface: c.listen.interface ?? null,
    address,
    bindAddress,
    ...ports,
    serverId,
    nextServer,
    bootFiles,
    httpBaseUrl,
    discovery: c.discovery ?? false,
    subnets,
  };
}
