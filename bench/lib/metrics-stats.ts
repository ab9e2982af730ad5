// bench/metrics: small statistics and CPU helpers. CPU of a peer is read two ways: utime+stime of its
// process group (10 ms ticks, what `ps`/cAdvisor's own metrics report) and the per-thread run time
// from /proc/<pid>/task/*/schedstat (ns, scheduler-exact), as a cross-check of the tick figure.
import { readdirSync, readFileSync } from 'node:fs';
import { groupCpuSeconds } from './cpu.js';

export const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** The median (the upper middle for an even count, as quantile 0.5 over sorted values). */
export const median = (xs: number[]) => quantile(xs, 0.5);

export function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Run time (s) of every live thread of the processes in process group pgid, from schedstat. */
export function groupRunSeconds(pgid: number): number {
  let ns = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
      for (const t of readdirSync(`/proc/${d}/task`)) ns += Number(readFileSync(`/proc/${d}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch { /* exited */ }
  }
  return ns / 1e9;
}

/** Both CPU readings of a process group. */
export function groupCpu(pgid: number): { ticks: number; run: number } {
  return { ticks: groupCpuSeconds(pgid), run: groupRunSeconds(pgid) };
}
