import { negotiateOptions } from './options.js';

const limits = { maxBlksize: 1468, maxWindowsize: 16, timeoutMs: 1000 };

describe('RRQ option negotiation', () => {
  it('sends no OACK and uses RFC 1350 defaults when the client asks for nothing', () => {
    expect(negotiateOptions(new Map(), limits, 100)).toEqual({
      blksize: 512, windowsize: 1, timeoutMs: 1000, acknowledged: new Map(),
    });
  });

  it('caps blksize and windowsize at the configured limits and reports the real tsize', () => {
    const result = negotiateOptions(
      new Map([['blksize', '65464'], ['tsize', '0'], ['windowsize', '64'], ['timeout', '3']]),
      limits,
      123456,
    );
    expect(result.blksize).toBe(1468);
    expect(result.windowsize).toBe(16);
    expect(result.timeoutMs).toBe(3000);
    expect([...result.acknowledged]).toEqual([
      ['blksize', '1468'], ['tsize', '123456'], ['windowsize', '16'], ['timeout', '3'],
    ]);
  });

  it('agrees to smaller values and to large blocks when the server allows them', () => {
    const big = negotiateOptions(new Map([['blksize', '65464']]), { ...limits, maxBlksize: 65464 }, 1);
    expect(big.blksize).toBe(65464);
    const small = negotiateOptions(new Map([['blksize', '8'], ['windowsize', '1']]), limits, 1);
    expect(small.blksize).toBe(8);
    expect(small.acknowledged.get('windowsize')).toBe('1');
  });

  it.each([
    ['blksize', '7'], ['blksize', '65465'], ['blksize', 'abc'], ['blksize', '-1'], ['blksize', '1e3'],
    ['windowsize', '0'], ['windowsize', '65536'], ['timeout', '0'], ['timeout', '256'], ['tsize', 'x'],
    ['rollover', '0'], ['utimeout', '1000'],
  ])('declines %s=%s by leaving it out of the OACK', (name, value) => {
    const result = negotiateOptions(new Map([[name, value]]), limits, 10);
    expect(result.acknowledged.size).toBe(0);
    expect(result).toMatchObject({ blksize: 512, windowsize: 1, timeoutMs: 1000 });
  });
});
