import { parseInventorySource } from './source.js';

const text = [
  '# comment line 1', //                    1
  'sites:', //                              2
  '  - code: MA-NOU1', //                   3
  '    racks:', //                          4
  '      - name: A01', //                   5
  'machines:', //                           6
  '  - serial: S1', //                      7
  '    bmc:', //                            8
  '      protocol: redfish', //             9
  '    nics:', //                           10
  '      - name: eno1', //                  11
  '        mac: zz', //                     12
  '      - name: eno2', //                  13
  '        mac:', //                        14
  '  - serial: "000123"', //                15
  '    mac_typo: 1', //                     16
].join('\n');

describe('parseInventorySource', () => {
  const src = parseInventorySource(text);

  it('converts YAML to data, keeping quoted strings as strings', () => {
    expect(src.syntaxProblems).toEqual([]);
    expect((src.data as { machines: { serial: string }[] }).machines[1]!.serial).toBe('000123');
  });

  it.each([
    [['machines', 0, 'nics', 0, 'mac'], 12, 'a scalar value'],
    [['machines', 0, 'nics', 1, 'mac'], 14, 'an empty value (its key)'],
    [['machines', 0, 'nics', 1], 13, 'a sequence item'],
    [['machines', 0, 'bmc'], 8, 'a nested block (its key)'],
    [['machines', 0, 'bmc', 'password'], 8, 'a missing field (its parent)'],
    [['machines', 1, 'mac_typo'], 16, 'an unknown key'],
    [['machines', 5, 'serial'], 6, 'a missing item (the list)'],
    [['sites', 0, 'racks', 0, 'name'], 5, 'a nested list item field'],
    [[], 2, 'the document'],
  ])('maps %j to line %i (%s)', (path, line) => {
    expect(src.lineOf(path)).toBe(line);
  });

  it('reports syntax errors with their line and no data', () => {
    const bad = parseInventorySource('sites:\n  - code: A\nmachines:\n  - serial: [unclosed\n  - serial: ok\n');
    expect(bad.data).toBeNull();
    expect(bad.syntaxProblems.length).toBeGreaterThan(0);
    expect(bad.syntaxProblems).toEqual([{ line: 5, message: expect.stringContaining('Flow sequence') }]);
  });

  it('reports a duplicate key as a syntax problem on its line', () => {
    const dup = parseInventorySource('machines:\n  - serial: A\n    serial: B\n');
    expect(dup.syntaxProblems).toEqual([{ line: 3, message: expect.stringMatching(/unique/i) }]);
  });

  it('has no lines for an object source', () => {
    const obj = parseInventorySource({ sites: [] });
    expect(obj.data).toEqual({ sites: [] });
    expect(obj.lineOf(['sites'])).toBeUndefined();
  });

  it('refuses an alias bomb as a problem without a line instead of throwing', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [name, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c']]) levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    const bomb = parseInventorySource(levels.join('\n'));
    expect(bomb.data).toBeNull();
    expect(bomb.syntaxProblems).toEqual([{ message: expect.stringMatching(/^cannot expand the document: Excessive alias count/) }]);
  });

  it('reports binary content as one problem on the line of the first control character', () => {
    const bin = parseInventorySource(`sites: []\nmachines:\u0001\u0000\u0000${'x'.repeat(10000)}\n\u0000`);
    expect(bin.data).toBeNull();
    expect(bin.syntaxProblems).toEqual([{ line: 2, message: 'not a YAML text file (control character U+0001)' }]);
    expect(parseInventorySource('sites: []\r\n\tmachines: []\r\n').syntaxProblems.every((p) => !/control character/.test(p.message))).toBe(true);
  });

  it('cuts syntax messages that quote a long line', () => {
    const long = parseInventorySource(`sites: |${'x'.repeat(5000)}\n`);
    expect(long.syntaxProblems.length).toBeGreaterThan(0);
    for (const p of long.syntaxProblems) expect(p.message.length).toBeLessThanOrEqual(200);
  });
});
