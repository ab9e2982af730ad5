// Reading dockerlet's YAML config file so that errors point at it: each value's line is kept (the
// YAML document's source ranges), and an unknown field is matched against the schema's known names
// at the same level to suggest the nearest one — as `kubectl` does for a misspelled flag.
import { readFileSync } from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { DockerletError, ErrorCodes } from '../lib/errors.js';

export interface ConfigFile {
  path: string;
  data: Record<string, unknown>;
  /** 1-based line of the value at path (or of `key` inside the mapping at path), if the file has it. */
  lineOf(path: readonly PropertyKey[], key?: string): number | undefined;
}

export function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `config ${path}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const line = lines.linePos(first.pos[0]).line;
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `config ${path}${line ? `:${line}` : ''}: ${first.message.split('\n')[0]}`);
  }
  const v: unknown = doc.toJS();
  if (v !== null && v !== undefined && (typeof v !== 'object' || Array.isArray(v))) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `config ${path}:1: the top level must be a mapping of settings`);
  }
  return { path, data: (v ?? {}) as Record<string, unknown>, lineOf: (p, key) => lineOf(doc, lines, p, key) };
}

function lineOf(doc: Document, lines: LineCounter, path: readonly PropertyKey[], key?: string): number | undefined {
  let node: unknown = doc.contents;
  for (const k of path) {
    if (!isMap(node)) return undefined;
    node = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(k))?.value;
  }
  let range: readonly number[] | null | undefined;
  if (key !== undefined) {
    if (!isMap(node)) return undefined;
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    range = isScalar(pair?.key) ? pair.key.range : undefined;
  } else {
    range = (node as { range?: readonly number[] | null } | undefined)?.range;
  }
  return range ? lines.linePos(range[0]!).line : undefined;
}

/** The field names a zod object schema accepts at path (wrappers such as default/optional unwrapped). */
export function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s: unknown = schema;
  const unwrap = () => {
    for (let def = defOf(s); def && 'innerType' in def; def = defOf(s)) s = def.innerType;
  };
  unwrap();
  for (const k of path) {
    const shape = defOf(s)?.shape as Record<string, unknown> | undefined;
    if (!shape) return [];
    s = shape[String(k)];
    unwrap();
  }
  const shape = defOf(s)?.shape as Record<string, unknown> | undefined;
  return shape ? Object.keys(shape) : [];
}

function defOf(s: unknown): Record<string, unknown> | undefined {
  return (s as { _zod?: { def?: Record<string, unknown> } } | undefined)?._zod?.def;
}

/** The known name nearest to `name` (edit distance ≤ a third of its length, at least 2), if any. */
export function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
