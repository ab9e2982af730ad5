// Incremental iptables-restore batches, as kube-proxy's iptables mode does since 1.27 (only the chains
// that changed are written; a full write after a failure and every FULL_SYNC_PERIOD): pure planning
// from the rules last written per chain to the rules wanted now. A chain whose rules are unchanged is
// left out (declaring it in a --noflush batch would flush it). A changed chain is patched per service
// port: the rules of a port that changed or left are deleted (-D by spec) and the rules of a port that
// changed or came are appended in their order — the ports' matches are disjoint (distinct ClusterIP or
// NodePort + port), so only the order inside one port's group matters. When the patch would touch
// more than half the chain, the chain is declared (flushed) and refilled instead.
import { chainNames, filterChainNames, tokenize, type Table } from './portals.js';

/** Upstream's FullSyncPeriod: a full restore at least this often even when the plan is empty. */
export const FULL_SYNC_PERIOD_MS = 60 * 60 * 1000;

/** Rules (`-A <chain> ...` lines) per chain of ours, in order. */
export type ChainRules = ReadonlyMap<string, readonly string[]>;

/** Splits rendered `-A <chain> ...` lines by chain; every chain of ours is present (maybe empty). */
export function rulesByChain(prefix: string, lines: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const c of [...Object.values(chainNames(prefix)), ...filterChainNames(prefix)]) out.set(c, []);
  for (const line of lines) {
    const chain = line.split(' ', 3)[1]!;
    const list = out.get(chain);
    if (!list) throw new RangeError(`rule for a chain that is not ours: ${line}`);
    list.push(line);
  }
  return out;
}

/** The rule's group: its comment (the service port key, with a note for refusals), else the whole rule. */
export function ruleGroup(line: string): string {
  const t = tokenize(line);
  const i = t.indexOf('--comment');
  return i >= 0 && t[i + 1] !== undefined ? t[i + 1]! : line;
}

function groups(rules: readonly string[]): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const r of rules) {
    const k = ruleGroup(r);
    const list = g.get(k);
    if (list) list.push(r);
    else g.set(k, [r]);
  }
  return g;
}

const same = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
  a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);

export interface ChainPlan {
  /** Declared (flushed) and refilled. */
  flush: boolean;
  /** -D / -A lines (flush: only -A lines). */
  lines: string[];
}

/** What to write for one chain; undefined when it is unchanged. `prev` undefined: not known to exist, so declared. */
export function planChain(chain: string, prev: readonly string[] | undefined, next: readonly string[]): ChainPlan | undefined {
  if (prev === undefined) return { flush: true, lines: [...next] };
  if (same(prev, next)) return undefined;
  const before = groups(prev);
  const after = groups(next);
  const dels: string[] = [];
  const adds: string[] = [];
  for (const [k, rules] of before) if (!same(rules, after.get(k))) dels.push(...rules.map((r) => r.replace(/^-A /, '-D ')));
  for (const [k, rules] of after) if (!same(rules, before.get(k))) adds.push(...rules);
  if (dels.length + adds.length > Math.max(8, next.length / 2)) return { flush: true, lines: [...next] };
  return { flush: false, lines: [...dels, ...adds] };
}

/**
 * The --noflush batch for the wanted rules given what was last written (`prev` undefined: nothing
 * known, a full write) and the builtin jump fixes per table; null when nothing needs writing.
 */
export function planRestore(prefix: string, prev: ChainRules | undefined, next: ChainRules, jumpFixes: Readonly<Record<Table, readonly string[]>>): string | null {
  const tables: [Table, string[]][] = [['nat', Object.values(chainNames(prefix))], ['filter', filterChainNames(prefix)]];
  const out: string[] = [];
  for (const [table, chains] of tables) {
    const decls: string[] = [];
    const body: string[] = [];
    for (const c of chains) {
      const p = planChain(c, prev?.get(c), next.get(c) ?? []);
      if (!p) continue;
      if (p.flush) decls.push(`:${c} - [0:0]`);
      body.push(...p.lines);
    }
    const fixes = jumpFixes[table];
    if (decls.length === 0 && body.length === 0 && fixes.length === 0) continue;
    out.push(`*${table}`, ...decls, ...fixes, ...body, 'COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : null;
}
