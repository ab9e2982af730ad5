// The proxy benchmark's arithmetic (pure): per-figure medians over rounds, each round's ratio of two
// targets paired by the round stamped on the samples (never by position), the spread of those ratios,
// and a verdict that says "parity" when the spread crosses 1.0.

export interface Figures {
  throughput_1stream_gbps: number;
  throughput_4stream_gbps: number;
  /** Saturated keep-alive requests per second (wrk, 32 connections). */
  keepalive_rps: number;
  /** New connections per second (wrk with Connection: close). */
  newconn_rate: number;
  /** Latency at a fixed rate (50 % of the round's slowest keep-alive maximum), from the scheduled send time. */
  fixed_rate_rps: number;
  fixed_rate_p50_ms: number;
  fixed_rate_p99_ms: number;
  /** CPU used by the proxy process(es) per keep-alive request / per new connection (µs); 0 for direct. */
  keepalive_cpu_us_per_req: number;
  newconn_cpu_us_per_conn: number;
  errors: number;
}

export interface Sample {
  round: number;
  /** Position of the target in that round's random order (1-based). */
  position: number;
  /** TIME_WAIT sockets on the host when the measurement started (drained before each target). */
  timeWaitAtStart: number;
  /** The host's 1-minute load average when the measurement started (others' work shares the cores). */
  loadAtStart?: number;
  figures: Figures;
}

/** Higher is better, except latency and CPU (a ratio below 1 is then the better one). */
export const LOWER_IS_BETTER: readonly (keyof Figures)[] = ['fixed_rate_p50_ms', 'fixed_rate_p99_ms', 'keepalive_cpu_us_per_req', 'newconn_cpu_us_per_conn'];
export const COMPARED: readonly (keyof Figures)[] = [
  'throughput_1stream_gbps', 'throughput_4stream_gbps', 'keepalive_rps', 'newconn_rate', 'fixed_rate_p50_ms', 'fixed_rate_p99_ms',
  'keepalive_cpu_us_per_req', 'newconn_cpu_us_per_conn',
];

export function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return round3(v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2);
}

export function medianFigures(samples: readonly Sample[]): Figures {
  const out = { ...samples[0]!.figures };
  for (const k of Object.keys(out) as (keyof Figures)[]) out[k] = median(samples.map((s) => s.figures[k]));
  return out;
}

export interface RatioSummary {
  /** Each round's ratio, by round number. */
  per_round: Record<string, number>;
  median: number;
  min: number;
  max: number;
  /** 'better' / 'worse' when every round agrees; 'parity' when the rounds' ratios cross 1.0. */
  verdict: 'better' | 'worse' | 'parity';
}

/** mine / peer per figure, each round paired by its stamped round number; rounds missing either side are left out. */
export function pairedRatios(mine: readonly Sample[], peer: readonly Sample[]): Partial<Record<keyof Figures, RatioSummary>> {
  const byRound = new Map(peer.map((s) => [s.round, s.figures]));
  const out: Partial<Record<keyof Figures, RatioSummary>> = {};
  for (const k of COMPARED) {
    const per: Record<string, number> = {};
    for (const s of mine) {
      const p = byRound.get(s.round);
      if (!p || !(p[k] > 0) || !Number.isFinite(s.figures[k])) continue;
      per[String(s.round)] = round3(s.figures[k] / p[k]);
    }
    const values = Object.values(per);
    if (values.length === 0) continue;
    const min = Math.min(...values);
    const max = Math.max(...values);
    const lower = LOWER_IS_BETTER.includes(k);
    const verdict = min <= 1 && max >= 1 ? 'parity' : (min > 1) !== lower ? 'better' : 'worse';
    out[k] = { per_round: per, median: median(values), min, max, verdict };
  }
  return out;
}

/** Fisher–Yates with an injected random source. */
export function shuffled<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
