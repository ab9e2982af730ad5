// Summarises a V8 .cpuprofile (node --cpu-prof): self time by source file and by function, and by
// "our call site": each sample charged to the nearest frame in the project's own code (not node
// internals or node_modules) on its stack, so library time shows which of our functions caused it.
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Self ms by file (repo-relative; node internals and node_modules grouped by package). */
  byFile: [string, number][];
  byFunction: [string, number][];
  /** Self ms charged to the nearest project frame on the stack (function file:line). */
  byOurCallSite: [string, number][];
  /** Top functions (self) with the project call site charged most for them. */
  topWithCallSite: [string, number, string][];
}

const isOurs = (key: string) => !key.startsWith('node_modules/') && !key.startsWith('node:') && !key.startsWith('(') && !key.startsWith('/');

function fileKey(url: string, roots: string[]): string {
  if (!url) return '(native/vm)';
  const u = url.replace(/^file:\/\//, '');
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return `node_modules/${nm[1]}`;
  if (u.startsWith('node:')) return u.split('/')[0]!;
  const root = roots.find((r) => u.startsWith(r));
  return root ? u.slice(root.length).replace(/^\//, '') : u;
}

export function summariseProfile(p: CpuProfile, roots: string[], top = 15): ProfileSummary {
  const selfUs = new Map<number, number>();
  if (p.samples && p.timeDeltas) {
    for (let i = 0; i < p.samples.length; i++) {
      const id = p.samples[i]!;
      selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0));
    }
  } else {
    const per = (p.endTime - p.startTime) / Math.max(1, p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0));
    for (const n of p.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * per);
  }
  const parent = new Map<number, ProfileNode>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const fnKey = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${fileKey(n.callFrame.url, roots)}:${n.callFrame.lineNumber + 1}`;
  const ourSite = (n: ProfileNode): string => {
    for (let x: ProfileNode | undefined = n; x; x = parent.get(x.id)) {
      if (x.callFrame.url && isOurs(fileKey(x.callFrame.url, roots))) return fnKey(x);
    }
    return '(no project frame: event loop, GC, startup)';
  };
  const byFile = new Map<string, number>();
  const byFn = new Map<string, number>();
  const bySite = new Map<string, number>();
  const fnSite = new Map<string, Map<string, number>>();
  let total = 0;
  for (const n of p.nodes) {
    const us = selfUs.get(n.id) ?? 0;
    if (n.callFrame.functionName === '(idle)' || us === 0) continue;
    total += us;
    const f = fileKey(n.callFrame.url, roots);
    byFile.set(f, (byFile.get(f) ?? 0) + us);
    const fn = fnKey(n);
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    const site = ourSite(n);
    bySite.set(site, (bySite.get(site) ?? 0) + us);
    const m = fnSite.get(fn) ?? new Map<string, number>();
    m.set(site, (m.get(site) ?? 0) + us);
    fnSite.set(fn, m);
  }
  const r = (us: number) => Math.round(us / 100) / 10;
  const ms = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, r(v)] as [string, number]);
  const byFunction = ms(byFn);
  const topWithCallSite = byFunction.map(([fn, v]) => {
    const sites = [...(fnSite.get(fn) ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1]);
    return [fn, v, sites.slice(0, 2).map(([k, us]) => `${k} (${r(us)} ms)`).join('; ')] as [string, number, string];
  });
  return { totalMs: Math.round(total / 1000), byFile: ms(byFile), byFunction, byOurCallSite: ms(bySite), topWithCallSite };
}

export async function summariseProfileFile(path: string, roots: string[]): Promise<ProfileSummary> {
  return summariseProfile(JSON.parse(await readFile(path, 'utf8')) as CpuProfile, roots);
}
