import { isCanonicalMac, normaliseMac } from './mac.js';

describe('normaliseMac', () => {
  it.each([
    ['aa:bb:cc:dd:ee:ff', 'aa:bb:cc:dd:ee:ff'],
    ['AA:BB:CC:DD:EE:0F', 'aa:bb:cc:dd:ee:0f'],
    ['AA-BB-CC-DD-EE-FF', 'aa:bb:cc:dd:ee:ff'],
    ['aabb.ccdd.eeff', 'aa:bb:cc:dd:ee:ff'],
    ['AABB.CCDD.EEFF', 'aa:bb:cc:dd:ee:ff'],
    ['aabbccddeeff', 'aa:bb:cc:dd:ee:ff'],
    ['  52:54:00:12:34:56 ', '52:54:00:12:34:56'],
  ])('turns %j into %j', (input, expected) => {
    expect(normaliseMac(input)).toBe(expected);
  });

  it.each([
    ['', 'empty'],
    ['aa:bb:cc:dd:ee', 'five octets'],
    ['aa:bb:cc:dd:ee:ff:00', 'seven octets'],
    ['aa:bb-cc:dd:ee:ff', 'mixed separators'],
    ['gg:bb:cc:dd:ee:ff', 'non-hex digit'],
    ['a:b:c:d:e:f', 'single-digit octets'],
    ['aabb.ccdd.eef', 'short Cisco form'],
    ['aabbccddeef', 'eleven hex digits'],
  ])('refuses %j (%s)', (input) => {
    expect(normaliseMac(input)).toBeNull();
  });

  it('produces only canonical forms', () => {
    expect(isCanonicalMac(normaliseMac('AA-BB-CC-DD-EE-FF')!)).toBe(true);
    expect(isCanonicalMac('AA:BB:CC:DD:EE:FF')).toBe(false);
  });
});
