/**
 * Sensor Data Record repository: the walk (Reserve SDR Repository, Get SDR in chunks) and decoding of
 * full (type 01h) and compact (type 02h) sensor records (IPMI v2.0 section 43).
 */
import { IpmiCompletionCodeError } from '../completion-codes.js';
import { NetFn } from '../session.js';
import type { IpmiRequester } from './requester.js';

/** Raw threshold bytes as stored in a full sensor record or returned by Get Sensor Thresholds. */
export interface RawThresholds {
  lowerNonCritical?: number;
  lowerCritical?: number;
  lowerNonRecoverable?: number;
  upperNonCritical?: number;
  upperCritical?: number;
  upperNonRecoverable?: number;
}

/** y = L[(M*x + B*10^bExp) * 10^rExp] */
export interface LinearConversion {
  /** 0 unsigned, 1 one's complement, 2 two's complement, 3 no analog reading. */
  analogFormat: number;
  linearization: number;
  m: number;
  b: number;
  bExp: number;
  rExp: number;
}

export interface SensorRecord {
  recordId: number;
  recordType: 0x01 | 0x02;
  ownerId: number;
  ownerLun: number;
  sensorNumber: number;
  entityId: number;
  entityInstance: number;
  sensorType: number;
  /** 0x01: threshold sensor; 0x6F: sensor-specific discrete; others generic discrete. */
  readingType: number;
  name: string;
  /** Sensor capabilities bits 3:2: 0 none, 1 readable, 2 readable+settable, 3 fixed (use the SDR values). */
  thresholdAccess: number;
  /** Threshold mask bits: 0 LNC, 1 LC, 2 LNR, 3 UNC, 4 UC, 5 UNR. */
  readableThresholds: number;
  baseUnit: number;
  percentage: boolean;
  /** Full records only. */
  conversion: LinearConversion | null;
  sdrThresholds: RawThresholds;
}

/** 10-bit (or n-bit) two's complement to number. */
export function signExtend(value: number, bits: number): number {
  const sign = 1 << (bits - 1);
  return (value & (sign - 1)) - (value & sign);
}

function decodeIdString(record: Buffer, offset: number): string {
  if (offset >= record.length) return '';
  const typeLength = record[offset]!;
  const length = Math.min(typeLength & 0x1f, record.length - offset - 1);
  return record.subarray(offset + 1, offset + 1 + length).toString('latin1').replace(/\0+$/, '').trim();
}

/** Decodes a sensor record (header included); null for record types Anvil does not use. */
export function parseSensorRecord(record: Buffer): SensorRecord | null {
  if (record.length < 5) return null;
  const recordType = record[3]!;
  if (recordType !== 0x01 && recordType !== 0x02) return null;
  const minimum = recordType === 0x01 ? 48 : 32;
  if (record.length < minimum) return null;
  const capabilities = record[11]!;
  const readingType = record[13]!;
  const isThreshold = readingType === 0x01;
  const units1 = record[20]!;
  const base = {
    recordId: record.readUInt16LE(0),
    recordType: recordType as 0x01 | 0x02,
    ownerId: record[5]!,
    ownerLun: record[6]! & 0x03,
    sensorNumber: record[7]!,
    entityId: record[8]!,
    entityInstance: record[9]! & 0x7f,
    sensorType: record[12]!,
    readingType,
    thresholdAccess: (capabilities >> 2) & 0x03,
    readableThresholds: isThreshold ? record[18]! & 0x3f : 0,
    baseUnit: record[21]!,
    percentage: (units1 & 0x01) !== 0,
  };
  if (recordType === 0x02) {
    return { ...base, name: decodeIdString(record, 31), conversion: null, sdrThresholds: {} };
  }
  const rbExp = record[29]!;
  const conversion: LinearConversion = {
    analogFormat: units1 >> 6,
    linearization: record[23]! & 0x7f,
    m: signExtend(record[24]! | ((record[25]! & 0xc0) << 2), 10),
    b: signExtend(record[26]! | ((record[27]! & 0xc0) << 2), 10),
    rExp: signExtend(rbExp >> 4, 4),
    bExp: signExtend(rbExp & 0x0f, 4),
  };
  const mask = base.readableThresholds;
  const sdrThresholds: RawThresholds = {};
  if (mask & 0x20) sdrThresholds.upperNonRecoverable = record[36]!;
  if (mask & 0x10) sdrThresholds.upperCritical = record[37]!;
  if (mask & 0x08) sdrThresholds.upperNonCritical = record[38]!;
  if (mask & 0x04) sdrThresholds.lowerNonRecoverable = record[39]!;
  if (mask & 0x02) sdrThresholds.lowerCritical = record[40]!;
  if (mask & 0x01) sdrThresholds.lowerNonCritical = record[41]!;
  return { ...base, name: decodeIdString(record, 47), conversion, sdrThresholds };
}

export interface SdrWalkOptions {
  /** Stops a runaway walk on a BMC whose "next record" links loop or never end. */
  maxRecords?: number;
}

const HEADER = 5;

async function reserve(request: IpmiRequester): Promise<number> {
  const data = await request(NetFn.storage, 0x22, new Uint8Array(0), 'Reserve SDR Repository');
  if (data.length < 2) throw new RangeError('Reserve SDR Repository response too short');
  return data.readUInt16LE(0);
}

/** Walks the SDR repository and returns every record's raw bytes (header included). */
export async function readSdrRepository(request: IpmiRequester, opts: SdrWalkOptions = {}): Promise<Buffer[]> {
  const maxRecords = opts.maxRecords ?? 1024;
  const records: Buffer[] = [];
  const seen = new Set<number>();
  let reservation = await reserve(request);
  let chunk = 32;
  let recordId = 0x0000;
  let reservationRetries = 0;
  while (records.length < maxRecords && !seen.has(recordId)) {
    const getSdr = async (offset: number, count: number): Promise<{ next: number; bytes: Buffer }> => {
      const req = Uint8Array.of(reservation & 0xff, reservation >> 8, recordId & 0xff, recordId >> 8, offset, count);
      const data = await request(NetFn.storage, 0x23, req, 'Get SDR');
      if (data.length < 2) throw new RangeError('Get SDR response too short');
      return { next: data.readUInt16LE(0), bytes: data.subarray(2) };
    };
    try {
      const head = await getSdr(0, HEADER);
      if (head.bytes.length < HEADER) throw new RangeError('Get SDR header response too short');
      const total = HEADER + head.bytes[4]!;
      const parts = [head.bytes.subarray(0, HEADER)];
      let offset = HEADER;
      while (offset < total) {
        let part: { bytes: Buffer };
        try {
          part = await getSdr(offset, Math.min(chunk, total - offset));
        } catch (err) {
          if (err instanceof IpmiCompletionCodeError && [0xc7, 0xc8, 0xca].includes(err.completionCode) && chunk > 8) {
            chunk = Math.floor(chunk / 2);
            continue;
          }
          throw err;
        }
        if (part.bytes.length === 0) break;
        parts.push(part.bytes);
        offset += part.bytes.length;
      }
      records.push(Buffer.concat(parts).subarray(0, total));
      seen.add(recordId);
      if (head.next === 0xffff) break;
      recordId = head.next;
    } catch (err) {
      // Someone else (another console, the BMC itself) changed the repository: reserve again and re-read.
      if (err instanceof IpmiCompletionCodeError && err.completionCode === 0xc5 && reservationRetries < 5) {
        reservationRetries++;
        reservation = await reserve(request);
        continue;
      }
      throw err;
    }
  }
  return records;
}
