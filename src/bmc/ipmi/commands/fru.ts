/**
 * FRU inventory (Platform Management FRU Information Storage Definition v1.0): reading FRU data over
 * IPMI and parsing the chassis, board and product info areas.
 */
import { IpmiCompletionCodeError } from '../completion-codes.js';
import { NetFn } from '../session.js';
import type { IpmiRequester } from './requester.js';

export interface FruInfo {
  chassis: { type: number | null; partNumber: string | null; serial: string | null } | null;
  board: { manufacturer: string | null; product: string | null; serial: string | null; partNumber: string | null; manufacturedAt: string | null } | null;
  product: { manufacturer: string | null; name: string | null; partNumber: string | null; version: string | null; serial: string | null; assetTag: string | null } | null;
}

const BCD_PLUS = '0123456789 -.:,_';

/** Decodes one type/length-prefixed field; returns the text and the offset after it, or null at the end marker. */
export function decodeTypeLengthField(area: Buffer, offset: number): { value: string | null; next: number } | null {
  if (offset >= area.length) return null;
  const typeLength = area[offset]!;
  if (typeLength === 0xc1) return null;
  const length = typeLength & 0x3f;
  const start = offset + 1;
  if (start + length > area.length) return null;
  const bytes = area.subarray(start, start + length);
  let value: string;
  switch (typeLength >> 6) {
    case 0: // binary or unspecified: hex, as ipmitool shows it
      value = bytes.toString('hex');
      break;
    case 1:
      value = Array.from(bytes, (b) => BCD_PLUS[b >> 4]! + BCD_PLUS[b & 0x0f]!).join('');
      break;
    case 2: {
      // 6-bit packed ASCII: four characters in every three bytes, least significant bits first
      let chars = '';
      let bits = 0;
      let acc = 0;
      for (const b of bytes) {
        acc |= b << bits;
        bits += 8;
        while (bits >= 6) {
          chars += String.fromCharCode((acc & 0x3f) + 0x20);
          acc >>= 6;
          bits -= 6;
        }
      }
      value = chars;
      break;
    }
    default:
      value = bytes.toString('latin1');
  }
  const trimmed = value.replace(/\0+$/, '').trim();
  return { value: trimmed === '' ? null : trimmed, next: start + length };
}

function readFields(area: Buffer, offset: number, count: number): (string | null)[] {
  const values: (string | null)[] = [];
  let at = offset;
  for (let i = 0; i < count; i++) {
    const field = decodeTypeLengthField(area, at);
    if (!field) break;
    values.push(field.value);
    at = field.next;
  }
  while (values.length < count) values.push(null);
  return values;
}

/** Returns the area starting at `offset8 * 8`, bounded by its own length byte, or null when absent/invalid. */
function areaAt(fru: Buffer, offset8: number): Buffer | null {
  if (offset8 === 0) return null;
  const start = offset8 * 8;
  if (start + 2 > fru.length) return null;
  const length = fru[start + 1]! * 8;
  if (length < 2 || start + length > fru.length) return null;
  return fru.subarray(start, start + length);
}

const FRU_EPOCH_MS = Date.UTC(1996, 0, 1);

/**
 * Parses FRU data. Tolerant by design: a missing or corrupt area comes back as null instead of failing
 * the whole inventory (checksums are not enforced because many BMCs ship them wrong).
 */
export function parseFru(fru: Buffer): FruInfo {
  const empty: FruInfo = { chassis: null, board: null, product: null };
  if (fru.length < 8 || fru[0] !== 0x01) return empty;
  const chassisArea = areaAt(fru, fru[2]!);
  const boardArea = areaAt(fru, fru[3]!);
  const productArea = areaAt(fru, fru[4]!);
  let chassis: FruInfo['chassis'] = null;
  if (chassisArea && chassisArea.length >= 3) {
    const [partNumber, serial] = readFields(chassisArea, 3, 2);
    chassis = { type: chassisArea[2]!, partNumber: partNumber ?? null, serial: serial ?? null };
  }
  let board: FruInfo['board'] = null;
  if (boardArea && boardArea.length >= 6) {
    const minutes = boardArea[3]! | (boardArea[4]! << 8) | (boardArea[5]! << 16);
    const [manufacturer, product, serial, partNumber] = readFields(boardArea, 6, 4);
    board = {
      manufacturer: manufacturer ?? null,
      product: product ?? null,
      serial: serial ?? null,
      partNumber: partNumber ?? null,
      manufacturedAt: minutes === 0 ? null : new Date(FRU_EPOCH_MS + minutes * 60_000).toISOString(),
    };
  }
  let product: FruInfo['product'] = null;
  if (productArea && productArea.length >= 3) {
    const [manufacturer, name, partNumber, version, serial, assetTag] = readFields(productArea, 3, 6);
    product = {
      manufacturer: manufacturer ?? null,
      name: name ?? null,
      partNumber: partNumber ?? null,
      version: version ?? null,
      serial: serial ?? null,
      assetTag: assetTag ?? null,
    };
  }
  return { chassis, board, product };
}

/** Largest FRU read most BMCs accept in one request; shrunk when a BMC says it is too much. */
const INITIAL_CHUNK = 32;
/** FRU devices are at most 64 KiB; anything larger reported is bogus. */
const MAX_FRU_BYTES = 0x10000;

/** Reads the whole FRU device (Get FRU Inventory Area Info, then Read FRU Data in chunks). */
export async function readFruData(request: IpmiRequester, fruId = 0): Promise<Buffer> {
  const info = await request(NetFn.storage, 0x10, Uint8Array.of(fruId), 'Get FRU Inventory Area Info');
  if (info.length < 3) throw new RangeError('Get FRU Inventory Area Info response too short');
  const size = Math.min(info.readUInt16LE(0), MAX_FRU_BYTES);
  const wordAccess = (info[2]! & 0x01) !== 0;
  const chunks: Buffer[] = [];
  let offset = 0;
  let chunk = INITIAL_CHUNK;
  while (offset < size) {
    const count = Math.min(chunk, size - offset);
    const unitOffset = wordAccess ? offset >> 1 : offset;
    const unitCount = wordAccess ? Math.ceil(count / 2) : count;
    let data: Buffer;
    try {
      data = await request(NetFn.storage, 0x11, Uint8Array.of(fruId, unitOffset & 0xff, unitOffset >> 8, unitCount), 'Read FRU Data');
    } catch (err) {
      // "request too large" style answers: halve the chunk and retry
      if (err instanceof IpmiCompletionCodeError && [0xc7, 0xc8, 0xca].includes(err.completionCode) && chunk > 8) {
        chunk = Math.floor(chunk / 2);
        continue;
      }
      throw err;
    }
    if (data.length < 1) throw new RangeError('Read FRU Data response too short');
    const returned = Math.min(wordAccess ? data[0]! * 2 : data[0]!, data.length - 1);
    if (returned === 0) break;
    chunks.push(data.subarray(1, 1 + returned));
    offset += returned;
  }
  return Buffer.concat(chunks).subarray(0, size);
}
