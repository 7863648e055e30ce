/**
 * DHCPv4 option codes, the ordered option set carried by a packet, and typed accessors for the
 * options boot services read and write. Values are kept as raw bytes, so an option this code does
 * not know travels through decode → encode unchanged.
 */

export const OPT_PAD = 0;
export const OPT_SUBNET_MASK = 1; // RFC 2132 3.3
export const OPT_ROUTER = 3; // RFC 2132 3.5
export const OPT_DNS_SERVERS = 6; // RFC 2132 3.8
export const OPT_HOSTNAME = 12; // RFC 2132 3.14
export const OPT_DOMAIN_NAME = 15; // RFC 2132 3.17
export const OPT_BROADCAST_ADDRESS = 28; // RFC 2132 5.3
export const OPT_VENDOR_SPECIFIC = 43; // RFC 2132 8.4; PXE options live here (PXE 2.1 spec, table 2-1)
export const OPT_REQUESTED_IP = 50; // RFC 2132 9.1
export const OPT_LEASE_TIME = 51; // RFC 2132 9.2
export const OPT_OVERLOAD = 52; // RFC 2132 9.3: 1 = file, 2 = sname, 3 = both carry options
export const OPT_MESSAGE_TYPE = 53; // RFC 2132 9.6
export const OPT_SERVER_ID = 54; // RFC 2132 9.7
export const OPT_PARAMETER_REQUEST_LIST = 55; // RFC 2132 9.8
export const OPT_MESSAGE = 56; // RFC 2132 9.9
export const OPT_MAX_MESSAGE_SIZE = 57; // RFC 2132 9.10
export const OPT_RENEWAL_TIME = 58; // RFC 2132 9.11 (T1)
export const OPT_REBINDING_TIME = 59; // RFC 2132 9.12 (T2)
export const OPT_VENDOR_CLASS_ID = 60; // RFC 2132 9.13: "PXEClient:Arch:00007:…", "HTTPClient…"
export const OPT_CLIENT_ID = 61; // RFC 2132 9.14
export const OPT_TFTP_SERVER_NAME = 66; // RFC 2132 9.4
export const OPT_BOOTFILE_NAME = 67; // RFC 2132 9.5
export const OPT_USER_CLASS = 77; // RFC 3004; iPXE sends the bare bytes "iPXE"
export const OPT_RELAY_AGENT_INFO = 82; // RFC 3046
export const OPT_CLIENT_ARCH = 93; // RFC 4578 2.1
export const OPT_CLIENT_NDI = 94; // RFC 4578 2.2
export const OPT_CLIENT_GUID = 97; // RFC 4578 2.3 (UUID/GUID-based client identifier)
export const OPT_IPXE_ENCAP = 175; // iPXE's encapsulated settings (sub-option 176 = no-pxedhcp)
export const OPT_END = 255;

/** DHCP message types (option 53), RFC 2132 9.6. */
export enum MessageType {
  DISCOVER = 1,
  OFFER = 2,
  REQUEST = 3,
  DECLINE = 4,
  ACK = 5,
  NAK = 6,
  RELEASE = 7,
  INFORM = 8,
}

export function messageTypeName(t: number | null): string {
  return t !== null && MessageType[t] !== undefined ? MessageType[t] : `type-${t ?? 'none'}`;
}

/** RFC 4578 / IANA processor architecture types (option 93) that boot services distinguish. */
export const ARCH_BIOS = 0;
export const ARCH_EFI_IA32 = 6;
export const ARCH_EFI_X64 = 7;
export const ARCH_EFI_BC = 9; // EFI byte code; in practice x86-64 firmware that mislabels itself
export const ARCH_EFI_ARM64 = 11;
export const ARCH_EFI_X64_HTTP = 16;
export const ARCH_EFI_ARM64_HTTP = 19;

/** Network Device Interface (option 94). */
export interface ClientNdi {
  type: number;
  major: number;
  minor: number;
}

/** One sub-option of the relay agent information option (82), RFC 3046 2.0. */
export interface RelaySubOption {
  code: number;
  data: Buffer;
}

export function ipToBuffer(ip: string): Buffer {
  const out = Buffer.alloc(4);
  writeIp(ip, out, 0);
  return out;
}

/** Writes a dotted-quad address at `offset`; throws RangeError on anything else. On the packet
 *  path, so a hand-written parser rather than split + regex. */
export function writeIp(ip: string, out: Buffer, offset: number): void {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i < ip.length ? ip.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3) throw new RangeError(`not an IPv4 address: "${ip}"`);
      out[offset + part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      value = value * 10 + (c - 48);
      digits++;
      if (value > 255) throw new RangeError(`not an IPv4 address: "${ip}"`);
    } else {
      throw new RangeError(`not an IPv4 address: "${ip}"`);
    }
  }
  if (part !== 4) throw new RangeError(`not an IPv4 address: "${ip}"`);
}

export function bufferToIp(b: Buffer, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

export function isIpv4(s: string): boolean {
  try {
    ipToBuffer(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * The options of one packet, in order of first appearance. A code that appears several times is
 * one option whose value is the concatenation (RFC 3396 section 5); the encoder splits values
 * longer than 255 bytes back into consecutive instances.
 */
export class DhcpOptions {
  private readonly values = new Map<number, Buffer>();

  static from(entries: Iterable<[number, Buffer]>): DhcpOptions {
    const o = new DhcpOptions();
    for (const [code, value] of entries) o.append(code, value);
    return o;
  }

  /** Appends bytes to an option (concatenation per RFC 3396), creating it if absent. */
  append(code: number, value: Buffer): void {
    checkCode(code);
    const prev = this.values.get(code);
    this.values.set(code, prev ? Buffer.concat([prev, value]) : Buffer.from(value));
  }

  set(code: number, value: Buffer): this {
    checkCode(code);
    this.values.set(code, Buffer.from(value));
    return this;
  }

  get(code: number): Buffer | undefined {
    return this.values.get(code);
  }

  has(code: number): boolean {
    return this.values.has(code);
  }

  delete(code: number): void {
    this.values.delete(code);
  }

  codes(): number[] {
    return [...this.values.keys()];
  }

  entries(): Array<[number, Buffer]> {
    return [...this.values.entries()];
  }

  get size(): number {
    return this.values.size;
  }

  // Typed writers -----------------------------------------------------------------------------

  setUint8(code: number, v: number): this {
    return this.set(code, Buffer.from([v & 0xff]));
  }

  setUint16(code: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v & 0xffff);
    return this.set(code, b);
  }

  setUint32(code: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return this.set(code, b);
  }

  setIp(code: number, ip: string): this {
    return this.set(code, ipToBuffer(ip));
  }

  setIps(code: number, ips: readonly string[]): this {
    return this.set(code, Buffer.concat(ips.map(ipToBuffer)));
  }

  setString(code: number, s: string): this {
    return this.set(code, Buffer.from(s, 'latin1'));
  }

  // Typed readers: each returns null when the option is absent or has the wrong length --------

  uint8(code: number): number | null {
    const b = this.values.get(code);
    return b && b.length === 1 ? b[0]! : null;
  }

  uint16(code: number): number | null {
    const b = this.values.get(code);
    return b && b.length === 2 ? b.readUInt16BE(0) : null;
  }

  uint32(code: number): number | null {
    const b = this.values.get(code);
    return b && b.length === 4 ? b.readUInt32BE(0) : null;
  }

  ip(code: number): string | null {
    const b = this.values.get(code);
    return b && b.length === 4 ? bufferToIp(b) : null;
  }

  ips(code: number): string[] | null {
    const b = this.values.get(code);
    if (!b || b.length === 0 || b.length % 4 !== 0) return null;
    const out: string[] = [];
    for (let i = 0; i < b.length; i += 4) out.push(bufferToIp(b, i));
    return out;
  }

  string(code: number): string | null {
    const b = this.values.get(code);
    return b ? b.toString('latin1') : null;
  }

  /** Option 53. */
  get messageType(): MessageType | null {
    const t = this.uint8(OPT_MESSAGE_TYPE);
    return t !== null && t >= 1 && t <= 8 ? (t as MessageType) : null;
  }

  /** Option 55: the codes the client asks for, in its order. */
  get parameterRequestList(): number[] {
    const b = this.values.get(OPT_PARAMETER_REQUEST_LIST);
    return b ? [...b] : [];
  }

  /** Option 60, e.g. `PXEClient:Arch:00007:UNDI:003016`. */
  get vendorClassId(): string | null {
    return this.string(OPT_VENDOR_CLASS_ID);
  }

  /** Option 61, raw (type byte + identifier). */
  get clientId(): Buffer | null {
    return this.values.get(OPT_CLIENT_ID) ?? null;
  }

  /**
   * Option 77 as a list of class names. RFC 3004 encodes each class as length + bytes, but iPXE
   * (and some ROMs) send the bare bytes `iPXE`; a value that is not a well-formed RFC 3004 list
   * is read as one bare class name.
   */
  get userClasses(): string[] {
    const b = this.values.get(OPT_USER_CLASS);
    if (!b || b.length === 0) return [];
    const classes: string[] = [];
    let i = 0;
    while (i < b.length) {
      const len = b[i]!;
      if (len === 0 || i + 1 + len > b.length) return [b.toString('latin1')];
      classes.push(b.toString('latin1', i + 1, i + 1 + len));
      i += 1 + len;
    }
    return classes;
  }

  /** Option 93: the architecture types the client lists (normally one). */
  get clientArchitectures(): number[] {
    const b = this.values.get(OPT_CLIENT_ARCH);
    if (!b || b.length === 0 || b.length % 2 !== 0) return [];
    const out: number[] = [];
    for (let i = 0; i < b.length; i += 2) out.push(b.readUInt16BE(i));
    return out;
  }

  /** Option 94. */
  get clientNdi(): ClientNdi | null {
    const b = this.values.get(OPT_CLIENT_NDI);
    return b && b.length === 3 ? { type: b[0]!, major: b[1]!, minor: b[2]! } : null;
  }

  /** Option 97 raw (type 0 + 16-byte GUID); echoed back verbatim, as PXE 2.1 requires. */
  get clientGuid(): Buffer | null {
    const b = this.values.get(OPT_CLIENT_GUID);
    return b && b.length === 17 && b[0] === 0 ? b : null;
  }

  /** Option 82 sub-options, or null when absent or malformed. */
  get relayAgentInfo(): RelaySubOption[] | null {
    const b = this.values.get(OPT_RELAY_AGENT_INFO);
    if (!b) return null;
    const subs: RelaySubOption[] = [];
    let i = 0;
    while (i < b.length) {
      if (i + 2 > b.length) return null;
      const len = b[i + 1]!;
      if (i + 2 + len > b.length) return null;
      subs.push({ code: b[i]!, data: b.subarray(i + 2, i + 2 + len) });
      i += 2 + len;
    }
    return subs;
  }

  get requestedIp(): string | null {
    return this.ip(OPT_REQUESTED_IP);
  }

  get serverId(): string | null {
    return this.ip(OPT_SERVER_ID);
  }

  /** Option 57, when it is a sane value (at least the 576 bytes every client must accept). */
  get maxMessageSize(): number | null {
    const v = this.uint16(OPT_MAX_MESSAGE_SIZE);
    return v !== null && v >= 576 ? v : null;
  }
}

function checkCode(code: number): void {
  if (!Number.isInteger(code) || code <= OPT_PAD || code >= OPT_END) {
    throw new RangeError(`DHCP option code ${code} cannot carry a value`);
  }
}

/** Encodes user classes in the RFC 3004 form (length-prefixed). */
export function encodeUserClasses(classes: readonly string[]): Buffer {
  return Buffer.concat(classes.map((c) => Buffer.concat([Buffer.from([c.length]), Buffer.from(c, 'latin1')])));
}

/** Encodes relay agent sub-options (option 82). */
export function encodeRelaySubOptions(subs: readonly RelaySubOption[]): Buffer {
  return Buffer.concat(subs.map((s) => Buffer.concat([Buffer.from([s.code, s.data.length]), s.data])));
}
