import { applyFilter, compileTemplate, TemplateError } from './template-engine.js';

const render = (src: string, model: object, file = 't.tmpl') => compileTemplate(src, file).render(model);

describe('template engine', () => {
  it('interpolates dotted paths', () => {
    expect(render('host={{ a.b }} n={{n}}', { a: { b: 'web1' }, n: 3 })).toBe('host=web1 n=3');
  });

  it('names the template and line of an unknown variable', () => {
    const t = compileTemplate('line one\nline two\n  value {{ nope }}\n', 'kickstart/x.ks');
    expect(() => t.render({})).toThrow(TemplateError);
    expect(() => t.render({})).toThrow('kickstart/x.ks:3: unknown variable "nope"');
  });

  it('counts lines across multi-line comments and standalone block tags', () => {
    const src = '{{! a\ncomment\n}}\n{{#if a}}\nx\n{{/if}}\n{{ missing }}';
    expect(() => render(src, { a: true })).toThrow('t.tmpl:7: unknown variable "missing"');
  });

  it('refuses a null value rather than printing an empty string', () => {
    expect(() => render('{{ a }}', { a: null })).toThrow('t.tmpl:1: variable "a" has no value');
  });

  it('reports syntax errors with the line at compile time', () => {
    expect(() => compileTemplate('ok\n{{#if a}}\nnever closed', 'f')).toThrow('f:2: "{{#if a}}" is never closed');
    expect(() => compileTemplate('\n\n{{/each}}', 'f')).toThrow('f:3: unexpected "{{/each}}"');
    expect(() => compileTemplate('{{ a | shell }}', 'f')).toThrow('f:1: unknown filter "shell"');
    expect(() => compileTemplate('{{ a b }}', 'f')).toThrow('f:1: "a b" is not a variable name');
    expect(() => compileTemplate('x {{ a', 'f')).toThrow('f:1: unclosed "{{"');
    expect(() => compileTemplate('{{#with a}}{{/with}}', 'f')).toThrow('unknown block');
  });

  it('renders if/else/unless and drops lines that hold only a block tag', () => {
    const src = 'a\n  {{#if on}}\nyes\n  {{else}}\nno\n  {{/if}}\n{{#unless on}}\nnot on\n{{/unless}}\nz\n';
    expect(render(src, { on: true })).toBe('a\nyes\nz\n');
    expect(render(src, { on: false })).toBe('a\nno\nnot on\nz\n');
  });

  it('keeps inline blocks on their line', () => {
    expect(render('net{{#if gw}} --gateway={{ gw }}{{/if}} --x\n', { gw: '10.0.0.1' })).toBe('net --gateway=10.0.0.1 --x\n');
    expect(render('net{{#if gw}} --gateway={{ gw }}{{/if}} --x\n', { gw: null })).toBe('net --x\n');
  });

  it('treats empty lists and strings as false, and errors on an unknown top-level condition', () => {
    expect(render('{{#if l}}x{{else}}y{{/if}}', { l: [] })).toBe('y');
    expect(render('{{#if s}}x{{else}}y{{/if}}', { s: '' })).toBe('y');
    expect(render('{{#if o.missing}}x{{else}}y{{/if}}', { o: {} })).toBe('y');
    expect(() => render('{{#if typo}}x{{/if}}', {})).toThrow('unknown variable "typo"');
  });

  it('iterates with this, @index, @first, @last and outer names', () => {
    const src = '{{#each keys}}\n{{ @index }}:{{ this }}@{{ host }}{{#if @first}} first{{/if}}{{#if @last}} last{{/if}}\n{{/each}}\n';
    expect(render(src, { keys: ['a', 'b', 'c'], host: 'h' })).toBe('0:a@h first\n1:b@h\n2:c@h last\n');
    expect(render('{{#each xs}}{{ this.n }},{{/each}}', { xs: [{ n: 1 }, { n: 2 }] })).toBe('1,2,');
    expect(() => render('{{#each s}}x{{/each}}', { s: 'abc' })).toThrow('"s" is not a list');
  });

  it('handles consecutive standalone tags sharing a line break', () => {
    const src = '{{#each a}}\n{{#if this}}\n- {{ this }}\n{{/if}}\n{{/each}}\nend\n';
    expect(render(src, { a: ['x', '', 'y'] })).toBe('- x\n- y\nend\n');
  });

  it('refuses newlines by default, so a value cannot add a line to an answer file', () => {
    expect(() => render('hostname {{ h }}\n', { h: 'web1\n%post\nrm -rf /\n%end' }, 'kickstart/rhel9.ks')).toThrow(
      'kickstart/rhel9.ks:1: "h": contains a newline or control character',
    );
  });

  it('chains filters left to right', () => {
    expect(render('{{ v | sh | yaml }}', { v: "it's" })).toBe(JSON.stringify(`'it'\\''s'`));
  });
});

describe('escaping filters', () => {
  it('sh quotes so the shell sees exactly one word', () => {
    expect(applyFilter('sh', "a b'c$(x)`y`")).toBe(`'a b'\\''c$(x)\`y\`'`);
    expect(applyFilter('sh', '')).toBe(`''`);
    expect(() => applyFilter('sh', 'a\nb')).toThrow(/newline/);
  });

  it('yaml produces a double-quoted scalar that is never a bool, number or alias', () => {
    expect(applyFilter('yaml', 'yes')).toBe('"yes"');
    expect(applyFilter('yaml', '*alias: #x\n')).toBe('"*alias: #x\\n"');
    expect(applyFilter('yaml', 'ssh-ed25519 AAAA "quoted"')).toBe('"ssh-ed25519 AAAA \\"quoted\\""');
  });

  it('ipxe accepts URLs and refuses spaces, newlines and settings expansion', () => {
    expect(applyFilter('ipxe', 'http://10.0.0.2:8080/boot/config/abc_-/ks.cfg?x=1&y=2')).toBe('http://10.0.0.2:8080/boot/config/abc_-/ks.cfg?x=1&y=2');
    expect(() => applyFilter('ipxe', 'http://x/ y')).toThrow(/iPXE/);
    expect(() => applyFilter('ipxe', 'http://x/\nshell')).toThrow(/iPXE/);
    expect(() => applyFilter('ipxe', 'http://x/${ip}')).toThrow(/iPXE/);
  });

  it('ipxe_args allows several arguments but no expansion or operators', () => {
    expect(applyFilter('ipxe_args', 'console=ttyS0,115200 quiet')).toBe('console=ttyS0,115200 quiet');
    expect(() => applyFilter('ipxe_args', 'a ${x}')).toThrow(/\$/);
    expect(() => applyFilter('ipxe_args', 'a || shell')).toThrow(/\|\|/);
    expect(() => applyFilter('ipxe_args', 'a\nshell')).toThrow(/newline/);
  });

  it('url and json encode', () => {
    expect(applyFilter('url', 'a b/c')).toBe('a%20b%2Fc');
    expect(applyFilter('json', { a: [1] })).toBe('{"a":[1]}');
  });

  it('refuses a list where a scalar belongs', () => {
    expect(() => applyFilter('line', ['a'])).toThrow(/list/);
  });
});
