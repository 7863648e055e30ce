import {
  ARCH_BIOS,
  ARCH_EFI_ARM64,
  ARCH_EFI_ARM64_HTTP,
  ARCH_EFI_BC,
  ARCH_EFI_X64,
  ARCH_EFI_X64_HTTP,
  OPT_BOOTFILE_NAME,
  OPT_CLIENT_GUID,
  OPT_TFTP_SERVER_NAME,
  OPT_VENDOR_CLASS_ID,
  OPT_IPXE_ENCAP,
  OPT_VENDOR_SPECIFIC,
  type DhcpOptions,
} from './options.js';
import type { DhcpPacket } from './packet.js';
import type { ResolvedDhcpConfig } from './config.js';

/** What a request says about the network boot client that sent it. */
export interface PxeClientInfo {
  /** Option 60 starts with `PXEClient` (firmware PXE ROM or iPXE). */
  pxeClient: boolean;
  /** Option 60 starts with `HTTPClient` (UEFI HTTP boot). */
  httpClient: boolean;
  /** User class (77) `iPXE`: the client already runs iPXE. */
  ipxe: boolean;
  /** First architecture from option 93, or, failing that, the `Arch:NNNNN` part of option 60. */
  arch: number | null;
  vendorClass: string | null;
}

export function pxeClientInfo(options: DhcpOptions): PxeClientInfo {
  const vendorClass = options.vendorClassId;
  let arch: number | null = options.clientArchitectures[0] ?? null;
  if (arch === null && vendorClass) {
    const m = /:Arch:(\d{5})/.exec(vendorClass);
    if (m) arch = Number(m[1]);
  }
  return {
    pxeClient: vendorClass?.startsWith('PXEClient') ?? false,
    httpClient: vendorClass?.startsWith('HTTPClient') ?? false,
    ipxe: options.userClasses.includes('iPXE'),
    arch,
    vendorClass,
  };
}

/** True for any client that network-boots (and so should get boot information). */
export function isNetbootClient(info: PxeClientInfo): boolean {
  return info.pxeClient || info.httpClient || info.ipxe;
}

/** The boot information to put in an answer. */
export interface BootDecision {
  siaddr: string;
  /** BOOTP `file` field and option 67. */
  bootFile: string;
  /** Option 60 to send back (`PXEClient` / `HTTPClient`), or null. */
  vendorClass: string | null;
  /** Option 43 (PXE vendor options), or null. */
  vendorOptions: Buffer | null;
  kind: 'ipxe-script' | 'tftp' | 'http';
}

/**
 * PXE 2.1 vendor option 6 (PXE_DISCOVERY_CONTROL) = 8: "use the boot file in this offer; do not
 * run boot server discovery". Without option 43, EDK2 UEFI firmware that sees `PXEClient` goes on
 * to next-server:4011 (BINL); iPXE's and dnsmasq's answers carry the same bytes.
 */
export const PXE_DISCOVERY_CONTROL_SKIP = Buffer.from([6, 1, 8, 255]);

/**
 * iPXE's encapsulated option 175, sub-option 176 (no-pxedhcp) = 1: "this offer is complete; do not
 * wait for a proxyDHCP offer". An iPXE that sees an offer without `PXEClient` otherwise waits up to
 * 2 s for one and only looks again on its retransmit timer: its REQUEST went out 3.0 s after the
 * DISCOVER in the QEMU test, 1.0 s with this set (dnsmasq's documentation gives the same advice).
 */
export const IPXE_NO_PXEDHCP = Buffer.from([176, 1, 1]);

/**
 * Chooses what a network boot client gets, or null when it gets no boot information (not a
 * netboot client, or an architecture we have no binary for).
 */
export function bootDecision(info: PxeClientInfo, mac: string, config: ResolvedDhcpConfig): BootDecision | null {
  // Breaking the PXE → iPXE loop: the firmware ROM chain-loads iPXE over TFTP; iPXE then DHCPs
  // again with user class "iPXE" and must now get its script over HTTP, not the iPXE binary
  // again (which would reload itself forever).
  if (info.ipxe) {
    return {
      siaddr: config.nextServer,
      bootFile: `${config.httpBaseUrl}/boot/ipxe?mac=${mac}`,
      vendorClass: null,
      vendorOptions: null,
      kind: 'ipxe-script',
    };
  }
  if (info.httpClient || info.arch === ARCH_EFI_X64_HTTP || info.arch === ARCH_EFI_ARM64_HTTP) {
    const file = info.arch === ARCH_EFI_ARM64_HTTP ? config.bootFiles.uefiArm64 : config.bootFiles.uefiX64;
    // UEFI HTTP boot only accepts an offer that echoes "HTTPClient" (UEFI 2.x, 24.7.2).
    return { siaddr: config.nextServer, bootFile: `${config.httpBaseUrl}/ipxe/${file}`, vendorClass: 'HTTPClient', vendorOptions: null, kind: 'http' };
  }
  if (!info.pxeClient) return null;
  let file: string | null = null;
  switch (info.arch) {
    case ARCH_BIOS:
    case null: // pre-RFC 4578 ROMs send no option 93 and are BIOS
      file = config.bootFiles.bios;
      break;
    case ARCH_EFI_X64:
    case ARCH_EFI_BC:
      file = config.bootFiles.uefiX64;
      break;
    case ARCH_EFI_ARM64:
      file = config.bootFiles.uefiArm64;
      break;
    default:
      return null;
  }
  return { siaddr: config.nextServer, bootFile: file, vendorClass: 'PXEClient', vendorOptions: PXE_DISCOVERY_CONTROL_SKIP, kind: 'tftp' };
}

/** Writes a boot decision into a reply; echoes the client's GUID (97) as PXE 2.1 requires. */
export function applyBootDecision(reply: DhcpPacket, request: DhcpPacket, d: BootDecision): void {
  reply.siaddr = d.siaddr;
  if (Buffer.byteLength(d.bootFile, 'latin1') <= 127) reply.file = d.bootFile;
  reply.options.setString(OPT_BOOTFILE_NAME, d.bootFile);
  if (d.kind === 'tftp') reply.options.setString(OPT_TFTP_SERVER_NAME, d.siaddr);
  if (d.vendorClass) reply.options.setString(OPT_VENDOR_CLASS_ID, d.vendorClass);
  if (d.vendorOptions) reply.options.set(OPT_VENDOR_SPECIFIC, d.vendorOptions);
  if (d.kind === 'ipxe-script') reply.options.set(OPT_IPXE_ENCAP, IPXE_NO_PXEDHCP);
  const guid = request.options.clientGuid;
  if (guid) reply.options.set(OPT_CLIENT_GUID, guid);
}
