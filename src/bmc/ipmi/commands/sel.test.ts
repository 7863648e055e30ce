import { IpmiCompletionCodeError } from '../completion-codes.js';
import { describeSelRecord, parseSelInfo, parseSelRecord, readSel } from './sel.js';

// record 0x0012, system event, 2024-01-02T03:04:05Z, generator 0x20, EvMRev 4, temperature #1,
// threshold event, upper critical going high (offset 9), reading 0x5f, threshold 0x5a
const AT = Date.UTC(2024, 0, 2, 3, 4, 5) / 1000;
const RECORD = Buffer.from([0x12, 0x00, 0x02, AT & 0xff, (AT >> 8) & 0xff, (AT >> 16) & 0xff, AT >>> 24, 0x20, 0x00, 0x04, 0x01, 0x01, 0x01, 0x59, 0x5f, 0x5a]);

describe('SEL decoding', () => {
  it('parses a system event record', () => {
    expect(parseSelRecord(RECORD)).toMatchObject({
      recordId: 0x12, recordType: 0x02, at: '2024-01-02T03:04:05.000Z', sensorType: 0x01, sensorNumber: 0x01, eventType: 0x01, deassertion: false,
    });
    expect(parseSelRecord(RECORD.subarray(0, 15))).toBeNull();
  });

  it('treats pre-init timestamps as unknown time', () => {
    const early = Buffer.from(RECORD);
    early.writeUInt32LE(608, 3);
    expect(parseSelRecord(early)?.at).toBeNull();
  });

  it.each([
    [0x59, false, 'critical', 'Temperature CPU1: upper critical going high asserted'],
    [0x57, false, 'warning', 'Temperature CPU1: upper non-critical going high asserted'],
    [0x59, true, 'ok', 'Temperature CPU1: upper critical going high deasserted'],
  ])('describes threshold event data %s (deassert %s) as %s', (data1, deassert, severity, message) => {
    const r = Buffer.from(RECORD);
    r[13] = data1;
    r[12] = deassert ? 0x81 : 0x01;
    expect(describeSelRecord(parseSelRecord(r)!, 'CPU1')).toEqual({ severity, message });
  });

  it('rates a power supply failure critical', () => {
    const r = Buffer.from(RECORD);
    r[10] = 0x08;
    r[12] = 0x6f;
    r[13] = 0x01;
    expect(describeSelRecord(parseSelRecord(r)!).severity).toBe('critical');
  });

  it('parses Get SEL Info', () => {
    const info = Buffer.from([0x51, 0x03, 0x00, 0x80, 0x3e, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x8a]);
    expect(parseSelInfo(info)).toEqual({ version: '1.5', entries: 3, freeBytes: 16000, lastAddAt: null, lastEraseAt: null, overflow: true });
  });
});

describe('readSel', () => {
  it('follows next-record ids to the end and tolerates an empty log', async () => {
    const ids = [0x0001, 0x0002, 0x0005];
    const request = async (_n: number, _c: number, data: Uint8Array): Promise<Buffer> => {
      const id = data[2]! | (data[3]! << 8);
      const index = id === 0 ? 0 : ids.indexOf(id);
      const next = index + 1 < ids.length ? ids[index + 1]! : 0xffff;
      const record = Buffer.from(RECORD);
      record.writeUInt16LE(ids[index]!, 0);
      return Buffer.concat([Buffer.from([next & 0xff, next >> 8]), record]);
    };
    expect((await readSel(request)).map((r) => r.recordId)).toEqual(ids);
    const empty = async (): Promise<Buffer> => {
      throw new IpmiCompletionCodeError('Get SEL Entry', 0xcb);
    };
    expect(await readSel(empty)).toEqual([]);
  });
});
