import { IpmiCompletionCodeError } from '../completion-codes.js';
import { parseSensorRecord, readSdrRepository, signExtend } from './sdr.js';

/** A full sensor record as ipmi_sim's examples and real BMCs lay it out (IPMI v2.0 table 43-1). */
export function fullRecord(o: { number?: number; name?: string; type?: number; m?: number; b?: number; rb?: number; units1?: number; unit?: number;
  mask?: number; thresholds?: number[]; capabilities?: number; owner?: number } = {}): Buffer {
  const name = Buffer.from(o.name ?? 'CPU Temp');
  const m = o.m ?? 1;
  const b = o.b ?? 0;
  const t = o.thresholds ?? [100, 90, 80, 0, 5, 10]; // UNR UC UNC LNR LC LNC
  const body = [o.owner ?? 0x20, 0x00, o.number ?? 0x30, 0x03, 0x01, 0x7f, o.capabilities ?? 0x68, o.type ?? 0x01, 0x01,
    0, 0, 0, 0, o.mask ?? 0x3f, 0x3f, o.units1 ?? 0x00, o.unit ?? 1, 0x00, 0x00,
    m & 0xff, ((m >> 8) & 3) << 6, b & 0xff, ((b >> 8) & 3) << 6, 0x00, o.rb ?? 0x00,
    0, 0, 0, 0, 0xff, 0x00, ...t, 0, 0, 0, 0, 0, 0xc0 | name.length, ...name];
  return Buffer.from([0x07, 0x00, 0x51, 0x01, body.length, ...body]);
}

describe('parseSensorRecord', () => {
  it('decodes a full threshold sensor record', () => {
    const r = parseSensorRecord(fullRecord({ m: -3 & 0x3ff, b: 500, rb: 0xe1 }));
    expect(r).toMatchObject({
      recordId: 7, recordType: 0x01, ownerId: 0x20, sensorNumber: 0x30, sensorType: 0x01, readingType: 0x01, name: 'CPU Temp',
      thresholdAccess: 2, readableThresholds: 0x3f, baseUnit: 1,
      conversion: { analogFormat: 0, linearization: 0, m: -3, b: 500, rExp: -2, bExp: 1 },
      sdrThresholds: { upperNonRecoverable: 100, upperCritical: 90, upperNonCritical: 80, lowerNonRecoverable: 0, lowerCritical: 5, lowerNonCritical: 10 },
    });
  });

  it('keeps only the thresholds the readable mask names', () => {
    expect(parseSensorRecord(fullRecord({ mask: 0x12 }))?.sdrThresholds).toEqual({ upperCritical: 90, lowerCritical: 5 });
  });

  it('decodes a compact record name and ignores other record types', () => {
    const compact = Buffer.alloc(32 + 4);
    compact.set([0x01, 0x00, 0x51, 0x02, 31, 0x20, 0x00, 0x40, 0x0a, 0x01, 0x7f, 0x40, 0x08, 0x6f]);
    compact[31] = 0xc4;
    compact.write('PSU1', 32, 'latin1');
    expect(parseSensorRecord(compact)).toMatchObject({ recordType: 0x02, sensorType: 0x08, readingType: 0x6f, name: 'PSU1', conversion: null });
    const fruLocator = Buffer.from([0x02, 0x00, 0x51, 0x11, 0x0b, ...Array(11).fill(0)]);
    expect(parseSensorRecord(fruLocator)).toBeNull();
  });

  it('returns null for truncated records', () => {
    const full = fullRecord();
    for (let cut = 0; cut < 48; cut++) expect(parseSensorRecord(full.subarray(0, cut))).toBeNull();
  });

  it('sign-extends 10-bit and 4-bit two\'s complement fields', () => {
    expect(signExtend(0x3ff, 10)).toBe(-1);
    expect(signExtend(0x1ff, 10)).toBe(511);
    expect(signExtend(0x8, 4)).toBe(-8);
    expect(signExtend(0x7, 4)).toBe(7);
  });
});

describe('readSdrRepository', () => {
  function repository(records: Buffer[], opts: { cancelOnce?: boolean } = {}) {
    let reservation = 1;
    let cancelled = false;
    const calls: string[] = [];
    const request = async (_netFn: number, cmd: number, data: Uint8Array): Promise<Buffer> => {
      if (cmd === 0x22) {
        reservation++;
        calls.push('reserve');
        return Buffer.from([reservation & 0xff, reservation >> 8]);
      }
      const id = data[2]! | (data[3]! << 8);
      const offset = data[4]!;
      const count = data[5]!;
      if ((data[0]! | (data[1]! << 8)) !== reservation) throw new IpmiCompletionCodeError('Get SDR', 0xc5);
      if (opts.cancelOnce && !cancelled && offset > 0) {
        cancelled = true;
        reservation++; // someone else reserved meanwhile
        throw new IpmiCompletionCodeError('Get SDR', 0xc5);
      }
      const index = id === 0 ? 0 : records.findIndex((r) => r.readUInt16LE(0) === id);
      if (index < 0) throw new IpmiCompletionCodeError('Get SDR', 0xcb);
      const next = index + 1 < records.length ? records[index + 1]!.readUInt16LE(0) : 0xffff;
      calls.push(`get ${id}@${offset}+${count}`);
      return Buffer.concat([Buffer.from([next & 0xff, next >> 8]), records[index]!.subarray(offset, offset + count)]);
    };
    return { request, calls };
  }

  it('walks every record, reading headers then bodies in chunks', async () => {
    const a = fullRecord({ name: 'A' });
    const b = Buffer.from(fullRecord({ name: 'Second sensor' }));
    b.writeUInt16LE(9, 0);
    const { request, calls } = repository([a, b]);
    const records = await readSdrRepository(request);
    expect(records).toEqual([a, b]);
    expect(calls[0]).toBe('reserve');
    expect(calls).toContain('get 0@0+5');
    expect(calls).toContain('get 9@0+5');
  });

  it('re-reserves and re-reads a record when the reservation is cancelled', async () => {
    const a = fullRecord();
    const { request, calls } = repository([a], { cancelOnce: true });
    expect(await readSdrRepository(request)).toEqual([a]);
    expect(calls.filter((c) => c === 'reserve')).toHaveLength(2);
  });

  it('stops on a next-record loop', async () => {
    const a = fullRecord();
    a.writeUInt16LE(5, 0);
    const request = async (_n: number, cmd: number): Promise<Buffer> =>
      cmd === 0x22 ? Buffer.from([1, 0]) : Buffer.concat([Buffer.from([5, 0]), a.subarray(0, 5)]);
    const records = await readSdrRepository(request);
    expect(records.length).toBeLessThanOrEqual(2);
  });
});
