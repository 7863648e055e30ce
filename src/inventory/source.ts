import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

/**
 * An inventory document plus a way back from a data path (`['machines', 3, 'nics', 0, 'mac']`)
 * to the line it came from, so every problem can be reported as `file:line field: message`.
 */
export interface InventorySource {
  /** Plain data (YAML converted to JS), or the object given. */
  data: unknown;
  /** YAML syntax errors; when non-empty, `data` must not be used. */
  syntaxProblems: { line: number; message: string }[];
  /**
   * 1-based line of the node at `path`; for a path that does not exist (a missing field), the
   * line of its nearest existing parent. Undefined for object sources, which have no lines.
   */
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

export function parseInventorySource(source: string | object): InventorySource {
  if (typeof source !== 'string') return { data: source, syntaxProblems: [], lineOf: () => undefined };
  const counter = new LineCounter();
  // YAML 1.2 core schema: `00:25:90:ab:cd:ef` stays a string (YAML 1.1 would read some as numbers).
  const doc = parseDocument(source, { lineCounter: counter, prettyErrors: false, uniqueKeys: true, version: '1.2' });
  const line = (offset: number) => counter.linePos(offset).line;
  const syntaxProblems = doc.errors.map((e) => ({ line: line(e.pos[0]), message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '') }));
  const data = syntaxProblems.length > 0 ? null : doc.toJS({ maxAliasCount: 100 });

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
