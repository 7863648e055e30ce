/** System Event Log: Get SEL Info and the Get SEL Entry walk, with decoding of system event records. */
import type { ComponentStatus } from '../../driver.js';
import { IpmiCompletionCodeError } from '../completion-codes.js';
import { NetFn } from '../session.js';
import type { IpmiRequester } from './requester.js';

export interface SelInfo {
  version: string;
  entries: number;
  freeBytes: number;
  /** ISO time of the last addition/erase; null when unspecified. */
  lastAddAt: string | null;
  lastEraseAt: string | null;
  overflow: boolean;
}

/** IPMI timestamps at or below this are seconds since BMC initialization, not since the epoch. */
const RELATIVE_TIMESTAMP_LIMIT = 0x20000000;

function timestamp(seconds: number): string | null {
  if (seconds === 0xffffffff || seconds <= RELATIVE_TIMESTAMP_LIMIT) return null;
  return new Date(seconds * 1000).toISOString();
}

export function parseSelInfo(data: Buffer): SelInfo {
  if (data.length < 14) throw new RangeError(`Get SEL Info response is ${data.length} bytes, expected 14`);
  return {
    version: `${data[0]! & 0x0f}.${data[0]! >> 4}`,
    entries: data.readUInt16LE(1),
    freeBytes: data.readUInt16LE(3),
    lastAddAt: timestamp(data.readUInt32LE(5)),
    lastEraseAt: timestamp(data.readUInt32LE(9)),
    overflow: (data[13]! & 0x80) !== 0,
  };
}

export async function getSelInfo(request: IpmiRequester): Promise<SelInfo> {
  return parseSelInfo(await request(NetFn.storage, 0x40, new Uint8Array(0), 'Get SEL Info'));
}

export interface SelRecord {
  recordId: number;
  recordType: number;
  at: string | null;
  /** System event records (type 02h) only. */
  sensorType: number | null;
  sensorNumber: number | null;
  eventType: number | null;
  deassertion: boolean;
  eventData: Buffer;
  raw: Buffer;
}

export function parseSelRecord(record: Buffer): SelRecord | null {
  if (record.length < 16) return null;
  const recordType = record[2]!;
  const system = recordType === 0x02;
  // OEM non-timestamped records (E0h-FFh) have no time field.
  const timestamped = recordType < 0xe0;
  return {
    recordId: record.readUInt16LE(0),
    recordType,
    at: timestamped ? timestamp(record.readUInt32LE(3)) : null,
    sensorType: system ? record[10]! : null,
    sensorNumber: system ? record[11]! : null,
    eventType: system ? record[12]! & 0x7f : null,
    deassertion: system ? (record[12]! & 0x80) !== 0 : false,
    eventData: Buffer.from(record.subarray(13, 16)),
    raw: Buffer.from(record.subarray(0, 16)),
  };
}

const THRESHOLD_OFFSETS = [
  'lower non-critical going low', 'lower non-critical going high', 'lower critical going low', 'lower critical going high',
  'lower non-recoverable going low', 'lower non-recoverable going high', 'upper non-critical going low', 'upper non-critical going high',
  'upper critical going low', 'upper critical going high', 'upper non-recoverable going low', 'upper non-recoverable going high',
];

const SENSOR_TYPE_NAMES: Readonly<Record<number, string>> = {
  0x01: 'Temperature', 0x02: 'Voltage', 0x03: 'Current', 0x04: 'Fan', 0x05: 'Physical Security', 0x07: 'Processor',
  0x08: 'Power Supply', 0x09: 'Power Unit', 0x0c: 'Memory', 0x0d: 'Drive Slot', 0x0f: 'System Firmware Progress',
  0x10: 'Event Logging Disabled', 0x12: 'System Event', 0x13: 'Critical Interrupt', 0x1d: 'System Boot Initiated',
  0x20: 'OS Critical Stop', 0x23: 'Watchdog',
};

/** A log line and its severity; `sensorName` comes from the SDR when the caller has it. */
export function describeSelRecord(r: SelRecord, sensorName?: string): { severity: ComponentStatus; message: string } {
  if (r.recordType !== 0x02 || r.sensorType === null) {
    return { severity: 'unknown', message: `OEM record type 0x${r.recordType.toString(16)}: ${r.raw.subarray(3).toString('hex')}` };
  }
  const typeName = SENSOR_TYPE_NAMES[r.sensorType] ?? `sensor type 0x${r.sensorType.toString(16)}`;
  const who = sensorName ? `${typeName} ${sensorName}` : `${typeName} #0x${r.sensorNumber!.toString(16).padStart(2, '0')}`;
  const direction = r.deassertion ? 'deasserted' : 'asserted';
  const offset = r.eventData[0]! & 0x0f;
  if (r.eventType === 0x01) {
    const what = THRESHOLD_OFFSETS[offset] ?? `threshold offset ${offset}`;
    let severity: ComponentStatus = offset <= 1 || offset === 6 || offset === 7 ? 'warning' : 'critical';
    if (r.deassertion) severity = 'ok';
    return { severity, message: `${who}: ${what} ${direction}` };
  }
  let severity: ComponentStatus = r.deassertion ? 'ok' : 'warning';
  if (!r.deassertion && r.sensorType === 0x08 && [1, 3, 4, 6].includes(offset)) severity = 'critical';
  return { severity, message: `${who}: event type 0x${r.eventType!.toString(16)} offset ${offset} ${direction}` };
}

/** Walks the SEL from the first record (Get SEL Entry, whole records, no reservation needed). */
export async function readSel(request: IpmiRequester, maxRecords = 2048): Promise<SelRecord[]> {
  const records: SelRecord[] = [];
  const seen = new Set<number>();
  let recordId = 0x0000;
  while (records.length < maxRecords && !seen.has(recordId)) {
    seen.add(recordId);
    let data: Buffer;
    try {
      data = await request(NetFn.storage, 0x43, Uint8Array.of(0, 0, recordId & 0xff, recordId >> 8, 0, 0xff), 'Get SEL Entry');
    } catch (err) {
      // 0xCB: the SEL is empty, or the record vanished because the log was cleared meanwhile.
      if (err instanceof IpmiCompletionCodeError && err.completionCode === 0xcb) break;
      throw err;
    }
    if (data.length < 2 + 16) throw new RangeError(`Get SEL Entry response is ${data.length} bytes, expected 18`);
    const record = parseSelRecord(data.subarray(2));
    if (record) records.push(record);
    const next = data.readUInt16LE(0);
    if (next === 0xffff) break;
    recordId = next;
  }
  return records;
}
