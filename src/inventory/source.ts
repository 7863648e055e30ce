import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

/**
 * An inventory document plus a way back from a data path (`['machines', 3, 'nics', 0, 'mac']`)
 * to the line it came from, so every problem can be reported as `file:line field: message`.
 */
export interface InventorySource {
  /** Plain data (YAML converted to JS), or the object given. */
  data: unknown;
  /** YAML syntax errors (line absent when the parser cannot place it); when non-empty, `data` must not be used. */
  syntaxProblems: { line?: number; message: string }[];
  /**
   * 1-based line of the node at `path`; for a path that does not exist (a missing field), the
   * line of its nearest existing parent. Undefined for object sources, which have no lines.
   */
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

export function parseInventorySource(source: string | object): InventorySource {
  if (typeof source !== 'string') return { data: source, syntaxProblems: [], lineOf: () => undefined };
  const binary = notText(source);
  if (binary) return { data: null, syntaxProblems: [binary], lineOf: () => undefined };
  const counter = new LineCounter();
  // YAML 1.2 core schema: `00:25:90:ab:cd:ef` stays a string (YAML 1.1 would read some as numbers).
  const doc = parseDocument(source, { lineCounter: counter, prettyErrors: false, uniqueKeys: true, version: '1.2' });
  const line = (offset: number) => counter.linePos(offset).line;
  const syntaxProblems: InventorySource['syntaxProblems'] = doc.errors.map((e) => ({ line: line(e.pos[0]), message: excerpt(e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')) }));
  let data: unknown = null;
  if (syntaxProblems.length === 0) {
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // The yaml library refuses to expand aliases past the limit (a "billion laughs" document)
      // and cannot say which alias tipped it over, so the problem has no line.
      syntaxProblems.push({ message: excerpt(`cannot expand the document: ${(err as Error).message}`) });
    }
  }

  function lineOf(path: readonly PropertyKey[]): number | undefined {
    let node: unknown = doc.contents;
    let at = rangeLine(node) ?? 1;
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === segment);
        if (!pair) break;
        node = pair.value;
        // Point at the key for nested blocks (`bmc:` rather than the first line inside it) and
        // for empty values (`mac:` with nothing after it).
        const keyLine = rangeLine(pair.key);
        const valueLine = rangeLine(pair.value);
        at = (isMap(node) || isSeq(node) || valueLine === undefined ? keyLine : valueLine) ?? at;
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment];
        if (item === undefined) break;
        node = item;
        at = rangeLine(item) ?? at;
      } else {
        break;
      }
    }
    return at;
  }

  function rangeLine(node: unknown): number | undefined {
    const range = (node as Node | null)?.range;
    return range ? line(range[0]) : undefined;
  }

  return { data, syntaxProblems, lineOf };
}

/** Cuts a parser message that quotes the offending text, which can be a very long line. */
function excerpt(message: string, max = 200): string {
  return message.length <= max ? message : `${message.slice(0, max - 1)}…`;
}

/**
 * Control characters YAML does not allow in a stream (everything below space but tab, LF and
 * CR, and DEL) mean a binary file or the wrong file altogether: one problem instead of one
 * syntax error per garbled line, each quoting binary content.
 */
function notText(source: string): { line: number; message: string } | null {
  const m = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.exec(source);
  if (!m) return null;
  const line = source.slice(0, m.index).split('\n').length;
  const code = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
  return { line, message: `not a YAML text file (control character U+${code})` };
}
