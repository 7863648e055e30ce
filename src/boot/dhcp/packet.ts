import { DhcpOptions, MessageType, OPT_END, OPT_MESSAGE_TYPE, OPT_OVERLOAD, OPT_PAD, bufferToIp, writeIp } from './options.js';

/**
 * DHCPv4 message codec (RFC 2131 section 2, options per RFC 2132, long options per RFC 3396).
 * `decodePacket` is strict: anything that is not a well-formed DHCP message throws
 * `DhcpDecodeError` (never anything else), so the server can count and drop it.
 */

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
export const HTYPE_ETHERNET = 1;
/** RFC 2131 2: the 'flags' bit asking for a broadcast reply. */
export const FLAG_BROADCAST = 0x8000;

const MAGIC_COOKIE = 0x63825363; // RFC 2131 3: 99.130.83.99
const FIXED_LEN = 236;
const OPTIONS_START = FIXED_LEN + 4;
const SNAME_OFFSET = 44;
const SNAME_LEN = 64;
const FILE_OFFSET = 108;
const FILE_LEN = 128;
/** BOOTP relay agents and old clients drop replies shorter than the BOOTP size (RFC 1542 2.1). */
const MIN_ENCODED_LEN = 300;
/** RFC 2131 2: every client accepts a 576-byte IP datagram, i.e. 548 bytes of DHCP message. */
export const DEFAULT_MAX_MESSAGE = 576 - 28;

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The full 16-byte field; the hardware address is the first `hlen` bytes. */
  chaddr: Buffer;
  /** Server host name (NUL-terminated field), empty when the field carried options. */
  sname: string;
  /** Boot file name (NUL-terminated field), empty when the field carried options. */
  file: string;
  options: DhcpOptions;
}

export type DecodeFailure =
  | 'too_short'
  | 'bad_op'
  | 'bad_hlen'
  | 'bad_cookie'
  | 'truncated_option'
  | 'missing_end'
  | 'bad_overload';

export class DhcpDecodeError extends Error {
  constructor(readonly reason: DecodeFailure, message: string) {
    super(message);
    this.name = 'DhcpDecodeError';
  }
}

export function decodePacket(buf: Buffer): DhcpPacket {
  if (buf.length < OPTIONS_START) throw new DhcpDecodeError('too_short', `DHCP message of ${buf.length} bytes is shorter than ${OPTIONS_START}`);
  const op = buf[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new DhcpDecodeError('bad_op', `op ${op} is neither BOOTREQUEST nor BOOTREPLY`);
  const hlen = buf[2]!;
  if (hlen > 16) throw new DhcpDecodeError('bad_hlen', `hlen ${hlen} exceeds the 16-byte chaddr field`);
  if (buf.readUInt32BE(FIXED_LEN) !== MAGIC_COOKIE) throw new DhcpDecodeError('bad_cookie', 'missing DHCP magic cookie');

  const options = new DhcpOptions();
  parseOptionArea(buf, OPTIONS_START, buf.length, options, 'options');
  let sname = cString(buf, SNAME_OFFSET, SNAME_LEN);
  let file = cString(buf, FILE_OFFSET, FILE_LEN);
  const overload = options.get(OPT_OVERLOAD);
  if (overload) {
    const v = overload.length === 1 ? overload[0]! : 0;
    if (v < 1 || v > 3) throw new DhcpDecodeError('bad_overload', `option 52 value must be 1, 2 or 3`);
    options.delete(OPT_OVERLOAD);
    // RFC 3396 section 7: options field first, then 'file', then 'sname'.
    if (v & 1) {
      parseOptionArea(buf, FILE_OFFSET, FILE_OFFSET + FILE_LEN, options, 'file');
      file = '';
    }
    if (v & 2) {
      parseOptionArea(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_LEN, options, 'sname');
      sname = '';
    }
  }

  return {
    op,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: bufferToIp(buf, 12),
    yiaddr: bufferToIp(buf, 16),
    siaddr: bufferToIp(buf, 20),
    giaddr: bufferToIp(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 44)),
    sname,
    file,
    options,
  };
}

function parseOptionArea(buf: Buffer, start: number, end: number, into: DhcpOptions, area: string): void {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === OPT_PAD) {
      i += 1;
      continue;
    }
    if (code === OPT_END) return;
    if (i + 1 >= end) throw new DhcpDecodeError('truncated_option', `option ${code} in ${area} has no length byte`);
    const len = buf[i + 1]!;
    if (i + 2 + len > end) throw new DhcpDecodeError('truncated_option', `option ${code} in ${area} runs past the end (${len} bytes)`);
    if (code === OPT_OVERLOAD && area !== 'options') {
      throw new DhcpDecodeError('bad_overload', `option 52 may only appear in the options field, found in ${area}`);
    }
    into.append(code, buf.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
  throw new DhcpDecodeError('missing_end', `${area} has no end option`);
}

function cString(buf: Buffer, offset: number, len: number): string {
  const field = buf.subarray(offset, offset + len);
  const nul = field.indexOf(0);
  return field.toString('latin1', 0, nul === -1 ? len : nul);
}

export interface EncodeOptions {
  /** Largest DHCP message (UDP payload) the peer accepts; defaults to 548 bytes. */
  maxMessageSize?: number;
}

/**
 * Encodes a packet. Option 53 goes first; values over 255 bytes become consecutive instances
 * (RFC 3396). When the options field is too small, `file` and then `sname` carry the rest
 * (option 52), but only if those fields are empty. Throws RangeError when the options cannot fit.
 */
export function encodePacket(p: DhcpPacket, opts: EncodeOptions = {}): Buffer {
  const maxLen = Math.max(opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE, OPTIONS_START + 1);
  const sname = Buffer.from(p.sname, 'latin1');
  const file = Buffer.from(p.file, 'latin1');
  if (sname.length > SNAME_LEN) throw new RangeError(`sname is ${sname.length} bytes, the field holds ${SNAME_LEN}`);
  if (file.length > FILE_LEN) throw new RangeError(`file is ${file.length} bytes, the field holds ${FILE_LEN}`);
  if (p.chaddr.length > 16) throw new RangeError('chaddr is longer than 16 bytes');

  const tlvs = optionTlvs(p.options);
  const optionsCap = maxLen - OPTIONS_START;
  const plainLen = tlvs.reduce((n, t) => n + t.size, 0) + 1;

  let areas: { options: Tlv[]; file: Tlv[] | null; sname: Tlv[] | null };
  if (plainLen <= optionsCap) {
    areas = { options: tlvs, file: null, sname: null };
  } else {
    // Keep 3 bytes for option 52 and 1 for each field's end option.
    const caps = [optionsCap - 4, file.length === 0 ? FILE_LEN - 1 : -1, sname.length === 0 ? SNAME_LEN - 1 : -1];
    const filled: Tlv[][] = [[], [], []];
    const used = [0, 0, 0];
    let area = 0;
    for (const t of tlvs) {
      while (area < 3 && used[area]! + t.size > caps[area]!) area++;
      if (area === 3) throw new RangeError(`DHCP options need ${plainLen} bytes; they do not fit in a ${maxLen}-byte message`);
      filled[area]!.push(t);
      used[area]! += t.size;
    }
    const overload = (filled[1]!.length ? 1 : 0) | (filled[2]!.length ? 2 : 0);
    areas = {
      options: [{ code: OPT_OVERLOAD, value: Buffer.from([overload]), size: 3 }, ...filled[0]!],
      file: filled[1]!.length ? filled[1]! : null,
      sname: filled[2]!.length ? filled[2]! : null,
    };
  }

  const optionsLen = areas.options.reduce((n, t) => n + t.size, 0) + 1;
  const total = Math.max(OPTIONS_START + optionsLen, MIN_ENCODED_LEN);
  const out = Buffer.alloc(total);
  out[0] = p.op;
  out[1] = p.htype;
  out[2] = p.hlen;
  out[3] = p.hops;
  out.writeUInt32BE(p.xid >>> 0, 4);
  out.writeUInt16BE(p.secs & 0xffff, 8);
  out.writeUInt16BE(p.flags & 0xffff, 10);
  writeIp(p.ciaddr, out, 12);
  writeIp(p.yiaddr, out, 16);
  writeIp(p.siaddr, out, 20);
  writeIp(p.giaddr, out, 24);
  p.chaddr.copy(out, 28);
  if (areas.sname) writeTlvs(out, SNAME_OFFSET, areas.sname);
  else sname.copy(out, SNAME_OFFSET);
  if (areas.file) writeTlvs(out, FILE_OFFSET, areas.file);
  else file.copy(out, FILE_OFFSET);
  out.writeUInt32BE(MAGIC_COOKIE, FIXED_LEN);
  writeTlvs(out, OPTIONS_START, areas.options);
  return out;
}

interface Tlv {
  code: number;
  value: Buffer;
  /** Encoded size: 2 + value length. */
  size: number;
}

function writeTlvs(out: Buffer, offset: number, tlvs: Tlv[]): void {
  let i = offset;
  for (const t of tlvs) {
    out[i] = t.code;
    out[i + 1] = t.value.length;
    t.value.copy(out, i + 2);
    i += t.size;
  }
  out[i] = OPT_END;
}

function optionTlvs(options: DhcpOptions): Tlv[] {
  const out: Tlv[] = [];
  const push = (code: number, value: Buffer) => {
    if (value.length === 0) {
      out.push({ code, value, size: 2 });
      return;
    }
    for (let i = 0; i < value.length; i += 255) {
      const chunk = value.subarray(i, Math.min(i + 255, value.length));
      out.push({ code, value: chunk, size: 2 + chunk.length });
    }
  };
  // RFC 2131 4.1 does not require it, but some ROMs only look for 53 first.
  const type = options.get(OPT_MESSAGE_TYPE);
  if (type) push(OPT_MESSAGE_TYPE, type);
  for (const [code, value] of options.entries()) {
    if (code === OPT_MESSAGE_TYPE || code === OPT_OVERLOAD) continue; // 52 is framing, decided by the encoder
    push(code, value);
  }
  return out;
}

/** Lower-case, colon-separated hardware address (the inventory's form). */
export function macOf(p: DhcpPacket): string {
  const n = Math.min(p.hlen, 16);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(p.chaddr[i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

export function macToChaddr(mac: string): Buffer {
  const bytes = mac.split(/[:-]/).map((h) => parseInt(h, 16));
  if (bytes.length < 1 || bytes.length > 16 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new RangeError(`not a hardware address: "${mac}"`);
  }
  const out = Buffer.alloc(16);
  Buffer.from(bytes).copy(out);
  return out;
}

/** An empty BOOTREQUEST/BOOTREPLY with the given fields; zeros elsewhere. */
export function newPacket(fields: Partial<DhcpPacket> & { op: number }): DhcpPacket {
  return {
    htype: HTYPE_ETHERNET,
    hlen: 6,
    hops: 0,
    xid: 0,
    secs: 0,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.alloc(16),
    sname: '',
    file: '',
    options: new DhcpOptions(),
    ...fields,
  };
}

/** A reply skeleton for `req`: same xid, flags, giaddr and chaddr (RFC 2131 table 3). */
export function replyTo(req: DhcpPacket, type: MessageType): DhcpPacket {
  const reply = newPacket({
    op: BOOTREPLY,
    htype: req.htype,
    hlen: req.hlen,
    xid: req.xid,
    flags: req.flags,
    giaddr: req.giaddr,
    chaddr: Buffer.from(req.chaddr),
  });
  reply.options.setUint8(OPT_MESSAGE_TYPE, type);
  return reply;
}
