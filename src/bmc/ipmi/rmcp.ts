/**
 * Packet framing for IPMI over LAN: the RMCP header, the IPMI v1.5 session wrapper (used only for the
 * pre-session Get Channel Authentication Capabilities) and the IPMI v2.0 / RMCP+ session wrapper, plus
 * the IPMI LAN message inside them. Pure functions over Buffers; decoders return `null` for anything
 * malformed so a bad datagram is dropped, never thrown.
 */

export const RMCP_VERSION = 0x06;
export const RMCP_CLASS_IPMI = 0x07;
export const AUTH_TYPE_NONE = 0x00;
export const AUTH_TYPE_RMCP_PLUS = 0x06;

/** RMCP+ payload types (IPMI v2.0 table 13-16). */
export const PayloadType = {
  ipmi: 0x00,
  openSessionRequest: 0x10,
  openSessionResponse: 0x11,
  rakp1: 0x12,
  rakp2: 0x13,
  rakp3: 0x14,
  rakp4: 0x15,
} as const;

/** Software ID of a remote console; the address BMC responses are sent back to. */
export const REMOTE_CONSOLE_ADDRESS = 0x81;
export const BMC_ADDRESS = 0x20;

const RMCP_HEADER = Buffer.from([RMCP_VERSION, 0x00, 0xff, RMCP_CLASS_IPMI]);

/** Two's-complement checksum: the bytes plus the checksum sum to zero mod 256. */
export function ipmiChecksum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum = (sum + bytes[i]!) & 0xff;
  return (0x100 - sum) & 0xff;
}

export interface IpmiRequest {
  netFn: number;
  cmd: number;
  /** 6-bit requester sequence number; how responses are matched to requests. */
  rqSeq: number;
  data: Uint8Array;
}

export interface IpmiResponse {
  netFn: number;
  cmd: number;
  rqSeq: number;
  completionCode: number;
  data: Buffer;
}

/** Encodes an IPMI LAN request message (rsSA, netFn/LUN, chk, rqSA, rqSeq/LUN, cmd, data, chk). */
export function encodeIpmiRequest(req: IpmiRequest): Buffer {
  const msg = Buffer.alloc(7 + req.data.length);
  msg[0] = BMC_ADDRESS;
  msg[1] = (req.netFn & 0x3f) << 2;
  msg[2] = ipmiChecksum(msg, 0, 2);
  msg[3] = REMOTE_CONSOLE_ADDRESS;
  msg[4] = (req.rqSeq & 0x3f) << 2;
  msg[5] = req.cmd & 0xff;
  msg.set(req.data, 6);
  msg[msg.length - 1] = ipmiChecksum(msg, 3, msg.length - 1);
  return msg;
}

/** Decodes an IPMI LAN response message; null when it is short, has bad checksums or is a request. */
export function decodeIpmiResponse(msg: Buffer): IpmiResponse | null {
  if (msg.length < 8) return null;
  if (ipmiChecksum(msg, 0, 2) !== msg[2]) return null;
  if (ipmiChecksum(msg, 3, msg.length - 1) !== msg[msg.length - 1]) return null;
  const netFn = msg[1]! >> 2;
  // Responses carry odd network functions; an even one is a request (e.g. an echo of our own packet).
  if ((netFn & 1) !== 1) return null;
  return {
    netFn: netFn & ~1,
    rqSeq: msg[4]! >> 2,
    cmd: msg[5]!,
    completionCode: msg[6]!,
    data: Buffer.from(msg.subarray(7, msg.length - 1)),
  };
}

/** Wraps an IPMI message in RMCP + an unauthenticated IPMI v1.5 session header (session 0). */
export function encodeV15Packet(message: Buffer): Buffer {
  const header = Buffer.alloc(10);
  header[0] = AUTH_TYPE_NONE;
  // sequence (4) and session id (4) are zero outside a session
  header[9] = message.length;
  return Buffer.concat([RMCP_HEADER, header, message]);
}

export type DecodedPacket =
  | { format: 'v1.5'; sessionId: number; sequence: number; message: Buffer }
  | {
      format: 'v2.0';
      encrypted: boolean;
      authenticated: boolean;
      payloadType: number;
      sessionId: number;
      sequence: number;
      payload: Buffer;
      /** Bytes the integrity code covers (auth type through next header); empty when not authenticated. */
      signedPart: Buffer;
      authCode: Buffer;
    };

/**
 * Splits a datagram into its session wrapper and payload. `authCodeLength` is the integrity code size of
 * the current session (0 before one exists). Returns null for anything that is not a well-formed
 * RMCP/IPMI packet.
 */
export function decodePacket(datagram: Buffer, authCodeLength: number): DecodedPacket | null {
  if (datagram.length < 4 + 10) return null;
  if (datagram[0] !== RMCP_VERSION || (datagram[3]! & 0x1f) !== RMCP_CLASS_IPMI) return null;
  // An RMCP ACK (class bit 7) carries no IPMI data.
  if ((datagram[3]! & 0x80) !== 0) return null;
  const authType = datagram[4]! & 0x0f;
  if (authType === AUTH_TYPE_RMCP_PLUS) {
    if (datagram.length < 4 + 12) return null;
    const typeByte = datagram[5]!;
    const payloadType = typeByte & 0x3f;
    if (payloadType === 0x02) return null; // OEM explicit payloads are not used by Anvil
    const sessionId = datagram.readUInt32LE(6);
    const sequence = datagram.readUInt32LE(10);
    const payloadLength = datagram.readUInt16LE(14);
    const payloadEnd = 16 + payloadLength;
    if (payloadEnd > datagram.length) return null;
    const authenticated = (typeByte & 0x40) !== 0;
    let signedPart = Buffer.alloc(0);
    let authCode = Buffer.alloc(0);
    if (authenticated) {
      if (authCodeLength === 0) return null;
      // trailer: pad (0..3 x 0xFF), pad length, next header (0x07), auth code
      const trailerEnd = datagram.length - authCodeLength;
      if (trailerEnd < payloadEnd + 2) return null;
      const padLength = datagram[trailerEnd - 2]!;
      if (datagram[trailerEnd - 1] !== 0x07 || padLength > 3 || payloadEnd + padLength + 2 !== trailerEnd) return null;
      signedPart = Buffer.from(datagram.subarray(4, trailerEnd));
      authCode = Buffer.from(datagram.subarray(trailerEnd));
    }
    return {
      format: 'v2.0',
      encrypted: (typeByte & 0x80) !== 0,
      authenticated,
      payloadType,
      sessionId,
      sequence,
      payload: Buffer.from(datagram.subarray(16, payloadEnd)),
      signedPart,
      authCode,
    };
  }
  // IPMI v1.5: auth type, sequence, session id, [16-byte auth code], length, message
  const sequence = datagram.readUInt32LE(5);
  const sessionId = datagram.readUInt32LE(9);
  let offset = 13;
  if (authType !== AUTH_TYPE_NONE) offset += 16;
  if (datagram.length < offset + 1) return null;
  const length = datagram[offset]!;
  const start = offset + 1;
  if (start + length > datagram.length || length === 0) return null;
  return { format: 'v1.5', sessionId, sequence, message: Buffer.from(datagram.subarray(start, start + length)) };
}

export interface V20PacketParts {
  payloadType: number;
  sessionId: number;
  sequence: number;
  /** Already encrypted when `encrypted` is set. */
  payload: Buffer;
  encrypted: boolean;
  /** Computes the integrity code over the signed part; omit for unauthenticated packets. */
  sign?: (signedPart: Buffer) => Buffer;
}

/** Builds an RMCP+ (IPMI v2.0) packet, adding the integrity trailer when `sign` is given. */
export function encodeV20Packet(parts: V20PacketParts): Buffer {
  const header = Buffer.alloc(12);
  header[0] = AUTH_TYPE_RMCP_PLUS;
  header[1] = (parts.encrypted ? 0x80 : 0) | (parts.sign ? 0x40 : 0) | (parts.payloadType & 0x3f);
  header.writeUInt32LE(parts.sessionId >>> 0, 2);
  header.writeUInt32LE(parts.sequence >>> 0, 6);
  header.writeUInt16LE(parts.payload.length, 10);
  if (!parts.sign) return Buffer.concat([RMCP_HEADER, header, parts.payload]);
  // The signed region (auth type .. next header) must be a multiple of 4 bytes; the header is 12.
  const padLength = (4 - ((parts.payload.length + 2) % 4)) % 4;
  const trailer = Buffer.alloc(padLength + 2, 0xff);
  trailer[padLength] = padLength;
  trailer[padLength + 1] = 0x07;
  const signedPart = Buffer.concat([header, parts.payload, trailer]);
  return Buffer.concat([RMCP_HEADER, signedPart, parts.sign(signedPart)]);
}
