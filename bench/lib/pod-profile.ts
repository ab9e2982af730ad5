// Summarises a V8 .cpuprofile (node --cpu-prof): self time by source file and by function.
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
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
}

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
  const byFile = new Map<string, number>();
  const byFn = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const us = selfUs.get(n.id) ?? 0;
    if (n.callFrame.functionName === '(idle)') continue;
    total += us;
    const f = fileKey(n.callFrame.url, roots);
    byFile.set(f, (byFile.get(f) ?? 0) + us);
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${f}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
  }
  const ms = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, Math.round(v / 100) / 10] as [string, number]);
  return { totalMs: Math.round(total / 1000), byFile: ms(byFile), byFunction: ms(byFn) };
}

export async function summariseProfileFile(path: string, roots: string[]): Promise<ProfileSummary> {
  return summariseProfile(JSON.parse(await readFile(path, 'utf8')) as CpuProfile, roots);
}
