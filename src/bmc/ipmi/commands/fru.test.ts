import { decodeTypeLengthField, parseFru, readFruData } from './fru.js';
import { IpmiCompletionCodeError } from '../completion-codes.js';

function area(fields: number[][], prefix: number[]): number[] {
  const bytes = [...prefix, ...fields.flat(), 0xc1];
  while ((bytes.length + 1) % 8 !== 0) bytes.push(0);
  bytes[1] = (bytes.length + 1) / 8;
  bytes.push((0x100 - bytes.reduce((a, b) => (a + b) & 0xff, 0)) & 0xff);
  return bytes;
}
const ascii = (s: string): number[] => [0xc0 | s.length, ...Buffer.from(s, 'latin1')];

describe('FRU type/length fields', () => {
  it.each([
    ['8-bit ASCII', [0xc5, ...Buffer.from('Intel')], 'Intel'],
    // the FRU specification's own example: "IPMI" packed as 6-bit ASCII
    ['6-bit packed ASCII', [0x83, 0x29, 0xdc, 0xa6], 'IPMI'],
    ['BCD plus', [0x42, 0x12, 0xb3], '12-3'],
    ['binary', [0x02, 0xde, 0xad], 'dead'],
    ['empty', [0xc0], null],
  ])('decodes %s', (_name, bytes, expected) => {
    expect(decodeTypeLengthField(Buffer.from(bytes as number[]), 0)?.value).toBe(expected);
  });

  it('stops at the end marker and at truncated fields', () => {
    expect(decodeTypeLengthField(Buffer.from([0xc1]), 0)).toBeNull();
    expect(decodeTypeLengthField(Buffer.from([0xc8, 0x41]), 0)).toBeNull();
  });
});

describe('parseFru', () => {
  const board = area([ascii('Acme'), ascii('Board X'), ascii('B123'), ascii('PN-1'), ascii('')], [0x01, 0, 0x00, 0xc0, 0x9c, 0xc0]);
  const product = area([ascii('Acme Corp'), [0x83, 0x29, 0xdc, 0xa6], ascii('P-9'), ascii('v2'), ascii('SN42'), ascii('TAG'), ascii('')], [0x01, 0, 0x00]);
  const header = [0x01, 0x00, 0x00, 0x01, 1 + board.length / 8, 0x00, 0x00];
  header.push((0x100 - header.reduce((a, b) => a + b, 0)) & 0xff);
  const fru = Buffer.from([...header, ...board, ...product]);

  it('reads the board and product areas', () => {
    const info = parseFru(fru);
    expect(info.board).toMatchObject({ manufacturer: 'Acme', product: 'Board X', serial: 'B123', partNumber: 'PN-1' });
    expect(info.board?.manufacturedAt).toBe('2020-01-01T00:00:00.000Z');
    expect(info.product).toEqual({ manufacturer: 'Acme Corp', name: 'IPMI', partNumber: 'P-9', version: 'v2', serial: 'SN42', assetTag: 'TAG' });
    expect(info.chassis).toBeNull();
  });

  it('returns nulls instead of failing on garbage or truncated data', () => {
    expect(parseFru(Buffer.alloc(0))).toEqual({ chassis: null, board: null, product: null });
    expect(parseFru(Buffer.from([0x02, 0, 0, 1, 2, 0, 0, 0]))).toEqual({ chassis: null, board: null, product: null });
    const truncated = parseFru(fru.subarray(0, 20));
    expect(truncated.product).toBeNull();
    for (let cut = 0; cut < fru.length; cut++) expect(() => parseFru(fru.subarray(0, cut))).not.toThrow();
  });
});

describe('readFruData', () => {
  it('reads the device in chunks and halves the chunk when the BMC says it is too large', async () => {
    const data = Buffer.from([...Array(100).keys()]);
    const counts: number[] = [];
    const request = async (_netFn: number, cmd: number, req: Uint8Array): Promise<Buffer> => {
      if (cmd === 0x10) return Buffer.from([100, 0, 0]);
      const offset = req[1]! | (req[2]! << 8);
      counts.push(req[3]!);
      if (req[3]! > 16) throw new IpmiCompletionCodeError('Read FRU Data', 0xca);
      const chunk = data.subarray(offset, offset + req[3]!);
      return Buffer.concat([Buffer.from([chunk.length]), chunk]);
    };
    expect(await readFruData(request)).toEqual(data);
    expect(counts[0]).toBe(32);
    expect(counts.slice(2).every((c) => c <= 16)).toBe(true);
  });
});
