/**
 * TFTP packet codec (RFC 1350 with the RFC 2347 option extension). Parsing never throws anything but
 * {@link TftpPacketError}, which carries the TFTP error code the server should answer with, so a
 * malformed datagram always turns into an ERROR packet or is dropped, never into a crash.
 */

export const Opcode = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  OACK: 6,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** TFTP error codes (RFC 1350 section 5, RFC 2347 for code 8). */
export const TftpErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;
export type TftpErrorCode = (typeof TftpErrorCode)[keyof typeof TftpErrorCode];

/** A request (RRQ or WRQ) as received. Option names are lower-cased; values are kept as sent. */
export interface TftpRequest {
  opcode: typeof Opcode.RRQ | typeof Opcode.WRQ;
  /** Raw filename bytes; the server decides how to decode and sanitize them. */
  filename: Buffer;
  /** Lower-cased transfer mode (`octet`, `netascii`, `mail` or anything the client sent). */
  mode: string;
  options: Map<string, string>;
}

export type TftpPacket =
  | TftpRequest
  | { opcode: typeof Opcode.DATA; block: number; payload: Buffer }
  | { opcode: typeof Opcode.ACK; block: number }
  | { opcode: typeof Opcode.ERROR; code: number; message: string }
  | { opcode: typeof Opcode.OACK; options: Map<string, string> };

/** A datagram that is not a valid TFTP packet; `tftpCode` is what to answer with. */
export class TftpPacketError extends Error {
  constructor(
    message: string,
    readonly tftpCode: TftpErrorCode = TftpErrorCode.ILLEGAL_OPERATION,
  ) {
    super(message);
    this.name = 'TftpPacketError';
  }
}

/** Requests larger than this are refused; RFC 1350 requests fit in 512 bytes and option lists stay small. */
export const MAX_REQUEST_BYTES = 1024;
const MAX_OPTIONS = 32;

/** Splits NUL-terminated fields starting at `offset`; every field must be terminated. */
function readStrings(buf: Buffer, offset: number): Buffer[] {
  const fields: Buffer[] = [];
  let start = offset;
  while (start < buf.length) {
    const end = buf.indexOf(0, start);
    if (end < 0) throw new TftpPacketError('request field is not NUL-terminated');
    fields.push(buf.subarray(start, end));
    start = end + 1;
  }
  return fields;
}

function asciiField(field: Buffer, what: string): string {
  for (const byte of field) {
    if (byte < 0x20 || byte > 0x7e) throw new TftpPacketError(`${what} contains a non-printable byte`);
  }
  return field.toString('latin1');
}

function parseOptions(fields: Buffer[]): Map<string, string> {
  if (fields.length % 2 !== 0) throw new TftpPacketError('option without a value');
  if (fields.length / 2 > MAX_OPTIONS) throw new TftpPacketError('too many options');
  const options = new Map<string, string>();
  for (let i = 0; i < fields.length; i += 2) {
    const name = asciiField(fields[i]!, 'option name').toLowerCase();
    if (name.length === 0) throw new TftpPacketError('empty option name');
    // RFC 2347 leaves duplicates undefined; the first one wins, as in tftp-hpa.
    if (!options.has(name)) options.set(name, asciiField(fields[i + 1]!, `option ${name}`));
  }
  return options;
}

/** Parses one datagram. Throws {@link TftpPacketError} on anything malformed. */
export function parsePacket(buf: Buffer): TftpPacket {
  if (buf.length < 4) throw new TftpPacketError(`packet of ${buf.length} bytes is too short`);
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case Opcode.RRQ:
    case Opcode.WRQ: {
      if (buf.length > MAX_REQUEST_BYTES) throw new TftpPacketError(`request of ${buf.length} bytes is too long`);
      const fields = readStrings(buf, 2);
      if (fields.length < 2) throw new TftpPacketError('request lacks a filename or mode');
      const filename = fields[0]!;
      if (filename.length === 0) throw new TftpPacketError('empty filename', TftpErrorCode.FILE_NOT_FOUND);
      const mode = asciiField(fields[1]!, 'mode').toLowerCase();
      return { opcode, filename: Buffer.from(filename), mode, options: parseOptions(fields.slice(2)) };
    }
    case Opcode.DATA:
      return { opcode, block: buf.readUInt16BE(2), payload: buf.subarray(4) };
    case Opcode.ACK:
      // Some clients pad ACKs; only the first four bytes carry meaning.
      return { opcode, block: buf.readUInt16BE(2) };
    case Opcode.ERROR: {
      const end = buf.indexOf(0, 4);
      const text = buf.subarray(4, end < 0 ? buf.length : end);
      return { opcode, code: buf.readUInt16BE(2), message: text.toString('latin1').replace(/[^\x20-\x7e]/g, '?') };
    }
    case Opcode.OACK:
      return { opcode, options: parseOptions(readStrings(buf, 2)) };
    default:
      throw new TftpPacketError(`unknown opcode ${opcode}`);
  }
}

/** Builds a DATA packet header into a buffer of `4 + payloadLength` bytes; the caller fills the payload. */
export function allocateData(block: number, payloadLength: number): Buffer {
  const buf = Buffer.allocUnsafe(4 + payloadLength);
  buf.writeUInt16BE(Opcode.DATA, 0);
  buf.writeUInt16BE(block & 0xffff, 2);
  return buf;
}

export function encodeData(block: number, payload: Buffer): Buffer {
  const buf = allocateData(block, payload.length);
  payload.copy(buf, 4);
  return buf;
}

export function encodeAck(block: number): Buffer {
  const buf = Buffer.allocUnsafe(4);
  buf.writeUInt16BE(Opcode.ACK, 0);
  buf.writeUInt16BE(block & 0xffff, 2);
  return buf;
}

export function encodeError(code: number, message: string): Buffer {
  // Messages are ours, but keep them ASCII and short so a packet never exceeds 512 bytes.
  const text = Buffer.from(message.replace(/[^\x20-\x7e]/g, '?').slice(0, 200), 'latin1');
  const buf = Buffer.alloc(5 + text.length);
  buf.writeUInt16BE(Opcode.ERROR, 0);
  buf.writeUInt16BE(code & 0xffff, 2);
  text.copy(buf, 4);
  return buf;
}

function encodeFields(opcode: number, fields: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from([opcode >> 8, opcode & 0xff])];
  for (const field of fields) parts.push(Buffer.from(field, 'latin1'), Buffer.from([0]));
  return Buffer.concat(parts);
}

export function encodeOack(options: ReadonlyMap<string, string>): Buffer {
  return encodeFields(Opcode.OACK, [...options].flat());
}

/** Builds a request; used by tests and the in-process client helpers. */
export function encodeRequest(
  opcode: typeof Opcode.RRQ | typeof Opcode.WRQ,
  filename: string,
  mode = 'octet',
  options: Record<string, string | number> = {},
): Buffer {
  const fields = [filename, mode];
  for (const [name, value] of Object.entries(options)) fields.push(name, String(value));
  return encodeFields(opcode, fields);
}
