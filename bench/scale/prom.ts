// Prometheus text → one histogram (summed over its label sets), differences between two scrapes, and
// quantiles interpolated inside buckets as PromQL's histogram_quantile does: the same reading for
// dockerlet's and kube-proxy's histograms (their sync buckets are the same: 1 ms × 2^k).
export interface Hist {
  /** Upper bound → cumulative count, ascending, +Inf last. */
  buckets: [number, number][];
  sum: number;
  count: number;
}

export function parseHistogram(text: string, name: string): Hist {
  const byLe = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (m[1] === `${name}_bucket`) {
      const le = /le="([^"]+)"/.exec(m[2] ?? '')?.[1];
      if (!le) continue;
      const k = le === '+Inf' ? Infinity : Number(le);
      byLe.set(k, (byLe.get(k) ?? 0) + v);
    } else if (m[1] === `${name}_sum`) sum += v;
    else if (m[1] === `${name}_count`) count += v;
  }
  return { buckets: [...byLe.entries()].sort((a, b) => a[0] - b[0]), sum, count };
}

export function diffHist(after: Hist, before: Hist): Hist {
  const prev = new Map(before.buckets);
  return { buckets: after.buckets.map(([le, n]) => [le, n - (prev.get(le) ?? 0)]), sum: after.sum - before.sum, count: after.count - before.count };
}

/** histogram_quantile(q): linear inside the bucket; the highest finite bound when it lands in +Inf. */
export function quantile(h: Hist, q: number): number | null {
  const total = h.buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const [le, n] of h.buckets) {
    if (n >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevN)) / Math.max(n - prevN, 1e-9);
    }
    prevLe = le;
    prevN = n;
  }
  return prevLe;
}

/** Exact quantile of samples (nearest rank). */
export function pct(samples: readonly number[], q: number): number | null {
  if (samples.length === 0) return null;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(90_000) });
  return res.text();
}
