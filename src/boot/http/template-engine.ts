import { AnvilError } from '../../errors.js';

/**
 * A small template language for installer answer files and iPXE scripts. It is deliberately
 * not Handlebars: no helpers, no partials, no code, and every interpolation passes through an
 * escaper chosen for the place the value lands, because a hostname that smuggles a newline into a
 * kickstart file or a `${...}` into an iPXE script would run on a customer's server as root.
 *
 * Syntax
 * - `{{ path }}`            the value at `path` (dotted), with the template's default escaper
 *                           (`line`: refuses control characters such as newlines).
 * - `{{ path | filter }}`   with an explicit escaper: sh, yaml, ipxe, ipxe_args, url, json, line;
 *                           filters chain left to right (`{{ cmd | sh | yaml }}`).
 * - `{{#if path}}…{{else}}…{{/if}}`, `{{#unless path}}…{{/unless}}`
 * - `{{#each path}}…{{/each}}` with `this`, `this.field`, `@index`, `@first`, `@last`; plain
 *   names inside also resolve against the enclosing scopes.
 * - `{{! comment }}`
 * A block tag or comment alone on its line takes the whole line with it, so templates can be
 * indented for reading without leaving blank lines in the output.
 *
 * Interpolating a name no scope defines, or a null value, is an error naming the template and
 * line: an answer file with an empty hostname is worse than no answer file.
 */

/** A template could not be compiled or rendered; names the template file and line. */
export class TemplateError extends AnvilError {
  override readonly code: string = 'template_error';
  override readonly status: number = 500;
  constructor(
    readonly file: string,
    readonly line: number,
    problem: string,
  ) {
    super(`${file}:${line}: ${problem}`, { details: [{ file, line, message: problem }] });
  }
}

export type FilterName = 'line' | 'sh' | 'yaml' | 'ipxe' | 'ipxe_args' | 'url' | 'json';

type Node =
  | { type: 'text'; value: string }
  | { type: 'var'; path: string; filters: FilterName[]; line: number }
  | { type: 'if'; path: string; negate: boolean; then: Node[]; else: Node[]; line: number }
  | { type: 'each'; path: string; body: Node[]; line: number };

export interface CompiledTemplate {
  readonly file: string;
  render(model: object): string;
}

const FILTERS = new Set<FilterName>(['line', 'sh', 'yaml', 'ipxe', 'ipxe_args', 'url', 'json']);
const PATH = /^(?:@index|@first|@last|this(?:\.[A-Za-z_][A-Za-z0-9_]*)*|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)$/;

interface Token {
  kind: 'text' | 'tag';
  value: string;
  line: number;
}

/** Splits into text and tags, removing lines that hold nothing but one block tag or comment. */
function tokenize(source: string, file: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  let line = 1;
  while (pos < source.length) {
    const open = source.indexOf('{{', pos);
    if (open === -1) {
      tokens.push({ kind: 'text', value: source.slice(pos), line });
      break;
    }
    if (open > pos) {
      const text = source.slice(pos, open);
      tokens.push({ kind: 'text', value: text, line });
      line += countNewlines(text);
    }
    const close = source.indexOf('}}', open + 2);
    if (close === -1) throw new TemplateError(file, line, 'unclosed "{{"');
    const inner = source.slice(open + 2, close);
    if (inner.includes('\n') && !inner.trimStart().startsWith('!')) throw new TemplateError(file, line, 'a tag may not span lines');
    tokens.push({ kind: 'tag', value: inner.trim(), line });
    line += countNewlines(inner);
    pos = close + 2;
  }
  return stripStandalone(tokens);
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

function isBlockTag(t: Token): boolean {
  return t.kind === 'tag' && /^[#/!]|^else$/.test(t.value);
}

function stripStandalone(tokens: Token[]): Token[] {
  // Decide on the original text first, then cut: two block tags on consecutive lines share the
  // text token between them, and each must see it as it was.
  const cutStart = new Map<number, number>();
  const cutEnd = new Map<number, number>();
  for (let i = 0; i < tokens.length; i++) {
    if (!isBlockTag(tokens[i]!)) continue;
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    const before = prev === undefined ? '' : prev.kind === 'text' ? prev.value : null;
    const after = next === undefined ? '' : next.kind === 'text' ? next.value : null;
    if (before === null || after === null) continue;
    const lineStart = before.lastIndexOf('\n');
    if (lineStart === -1 && i > 1) continue; // something else precedes the tag on its line
    if (!/^[ \t]*$/.test(before.slice(lineStart + 1))) continue;
    const m = /^[ \t]*(\r?\n|$)/.exec(after);
    if (!m) continue;
    if (prev) cutEnd.set(i - 1, lineStart + 1);
    if (next) cutStart.set(i + 1, m[0].length);
  }
  return tokens
    .map((t, i) => {
      if (t.kind !== 'text') return t;
      const from = cutStart.get(i) ?? 0;
      const to = Math.max(from, cutEnd.get(i) ?? t.value.length);
      return { ...t, value: t.value.slice(from, to) };
    })
    .filter((t) => t.kind === 'tag' || t.value !== '');
}

/** Compiles `source`; `file` names the template in every error. */
export function compileTemplate(source: string, file: string): CompiledTemplate {
  const tokens = tokenize(source, file);
  let i = 0;

  const parseUntil = (closers: string[]): { nodes: Node[]; closer: string | null; line: number } => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if (t.kind === 'text') {
        nodes.push({ type: 'text', value: t.value });
        continue;
      }
      const v = t.value;
      if (v.startsWith('!')) continue;
      if (v === 'else' || v.startsWith('/')) {
        if (closers.includes(v)) return { nodes, closer: v, line: t.line };
        throw new TemplateError(file, t.line, `unexpected "{{${v}}}"`);
      }
      const block = /^#(if|unless|each)\s+(\S+)$/.exec(v);
      if (block) {
        const [, kind, path] = block as unknown as [string, 'if' | 'unless' | 'each', string];
        checkPath(path, file, t.line);
        if (kind === 'each') {
          const body = parseUntil(['/each']);
          if (body.closer === null) throw new TemplateError(file, t.line, `"{{#each ${path}}}" is never closed`);
          nodes.push({ type: 'each', path, body: body.nodes, line: t.line });
        } else {
          const close = `/${kind}`;
          const then = parseUntil(['else', close]);
          if (then.closer === null) throw new TemplateError(file, t.line, `"{{#${kind} ${path}}}" is never closed`);
          let otherwise: Node[] = [];
          if (then.closer === 'else') {
            const rest = parseUntil([close]);
            if (rest.closer === null) throw new TemplateError(file, t.line, `"{{#${kind} ${path}}}" is never closed`);
            otherwise = rest.nodes;
          }
          nodes.push({ type: 'if', path, negate: kind === 'unless', then: then.nodes, else: otherwise, line: t.line });
        }
        continue;
      }
      if (v.startsWith('#')) throw new TemplateError(file, t.line, `unknown block "{{${v}}}"`);
      const [path, ...filters] = v.split('|').map((s) => s.trim()) as [string, ...string[]];
      checkPath(path, file, t.line);
      for (const filter of filters) {
        if (!FILTERS.has(filter as FilterName)) {
          throw new TemplateError(file, t.line, `unknown filter "${filter}" (known: ${[...FILTERS].join(', ')})`);
        }
      }
      nodes.push({ type: 'var', path, filters: filters as FilterName[], line: t.line });
    }
    return { nodes, closer: null, line: 0 };
  };

  const root = parseUntil([]);
  const program = root.nodes;
  return {
    file,
    render(model: object): string {
      const out: string[] = [];
      renderNodes(program, [{ value: model as Record<string, unknown> }], out, file);
      return out.join('');
    },
  };
}

function checkPath(path: string, file: string, line: number): void {
  if (!PATH.test(path)) throw new TemplateError(file, line, `"${path}" is not a variable name`);
}

interface Scope {
  value: unknown;
  index?: number;
  count?: number;
}

const MISSING = Symbol('missing');

function lookup(path: string, scopes: Scope[]): unknown {
  const inner = scopes[scopes.length - 1]!;
  if (path === '@index' || path === '@first' || path === '@last') {
    if (inner.index === undefined) return MISSING;
    if (path === '@index') return inner.index;
    return path === '@first' ? inner.index === 0 : inner.index === inner.count! - 1;
  }
  const segments = path.split('.');
  let current: unknown;
  if (segments[0] === 'this') {
    current = inner.value;
    segments.shift();
  } else {
    const head = segments.shift()!;
    current = MISSING;
    for (let s = scopes.length - 1; s >= 0; s--) {
      const v = scopes[s]!.value;
      if (v !== null && typeof v === 'object' && Object.hasOwn(v, head)) {
        current = (v as Record<string, unknown>)[head];
        break;
      }
    }
  }
  for (const seg of segments) {
    if (current === null || current === undefined || typeof current !== 'object' || !Object.hasOwn(current, seg)) return MISSING;
    current = (current as Record<string, unknown>)[seg];
  }
  return current;
}

function isTruthy(v: unknown): boolean {
  if (v === MISSING || v === null || v === undefined || v === false || v === '' || v === 0) return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

function renderNodes(nodes: Node[], scopes: Scope[], out: string[], file: string): void {
  for (const node of nodes) {
    switch (node.type) {
      case 'text':
        out.push(node.value);
        break;
      case 'var': {
        const v = lookup(node.path, scopes);
        if (v === MISSING) throw new TemplateError(file, node.line, `unknown variable "${node.path}"`);
        if (v === null || v === undefined) throw new TemplateError(file, node.line, `variable "${node.path}" has no value`);
        try {
          let text: unknown = v;
          for (const f of node.filters.length ? node.filters : (['line'] as FilterName[])) text = applyFilter(f, text);
          out.push(text as string);
        } catch (err) {
          throw new TemplateError(file, node.line, `"${node.path}": ${(err as Error).message}`);
        }
        break;
      }
      case 'if': {
        const v = lookup(node.path, scopes);
        if (v === MISSING && !node.path.includes('.') && !node.path.startsWith('@')) {
          // A typo in a condition would silently drop a section; only nested fields may be absent.
          throw new TemplateError(file, node.line, `unknown variable "${node.path}"`);
        }
        renderNodes(isTruthy(v) !== node.negate ? node.then : node.else, scopes, out, file);
        break;
      }
      case 'each': {
        const v = lookup(node.path, scopes);
        if (v === MISSING) throw new TemplateError(file, node.line, `unknown variable "${node.path}"`);
        if (v === null || v === undefined) break;
        if (!Array.isArray(v)) throw new TemplateError(file, node.line, `"${node.path}" is not a list`);
        v.forEach((item, index) => renderNodes(node.body, [...scopes, { value: item, index, count: v.length }], out, file));
        break;
      }
    }
  }
}

/** Refuses values containing ASCII control characters (newline, NUL, escape...), tab excepted. */
function refuseControl(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(s)) throw new Error('contains a newline or control character');
  return s;
}

function scalar(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  throw new Error(`is a ${Array.isArray(v) ? 'list' : typeof v}, not a scalar`);
}

/** Escapes one value for one output context. Exported for tests and for code that builds lines. */
export function applyFilter(filter: FilterName, v: unknown): string {
  switch (filter) {
    case 'json':
      return JSON.stringify(v);
    case 'line':
      return refuseControl(scalar(v));
    case 'sh':
      // POSIX single quotes: nothing inside is special except the quote itself.
      // Control characters are refused too: every shell line we write is one line of a larger file.
      return `'${refuseControl(scalar(v)).replaceAll("'", `'\\''`)}'`;
    case 'yaml':
      // A JSON string is a valid YAML 1.2 double-quoted scalar; it escapes newlines, quotes and
      // control characters, and is never read as a number, boolean, alias or tag.
      return JSON.stringify(scalar(v));
    case 'url':
      return encodeURIComponent(scalar(v));
    case 'ipxe': {
      const s = scalar(v);
      // iPXE splits on whitespace and expands ${...}; a URL is one token of URL characters.
      if (!/^[A-Za-z0-9._~:/?#[\]@!&'()*+,;=%-]+$/.test(s)) {
        throw new Error('is not safe in an iPXE script (spaces, newlines, "$" and other characters outside a URL are refused)');
      }
      return s;
    }
    case 'ipxe_args': {
      const s = refuseControl(scalar(v));
      // Kernel arguments are several tokens, but still no settings expansion and no iPXE operators.
      if (/[$\\]|\|\||&&/.test(s)) throw new Error('contains "$", "\\", "||" or "&&", which iPXE would interpret');
      return s;
    }
  }
}
