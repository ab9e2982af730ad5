// bench/metrics: the value comparison with cAdvisor. Parses both peers' Prometheus texts and reports,
// per metric, the largest relative difference for the same container (name label) and extra labels
// (interface, cpu, failure_type, scope), with the worst series and the two samples' own timestamps.
import { PREFIX } from './metrics-peers.js';
import { round } from './metrics-stats.js';

interface Sample { name: string; labels: Record<string, string>; value: number; ts?: number }

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)(?: (\d+))?$/);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[4]), ...(m[5] ? { ts: Number(m[5]) } : {}) });
  }
  return out;
}

export const COMPARED = [
  'container_cpu_usage_seconds_total', 'container_cpu_user_seconds_total', 'container_cpu_system_seconds_total',
  'container_memory_usage_bytes', 'container_memory_working_set_bytes', 'container_memory_rss', 'container_memory_cache',
  'container_memory_mapped_file', 'container_memory_swap', 'container_memory_max_usage_bytes', 'container_memory_failcnt',
  'container_memory_failures_total', 'container_spec_memory_limit_bytes', 'container_spec_memory_reservation_limit_bytes',
  'container_spec_memory_swap_limit_bytes', 'container_spec_cpu_shares', 'container_spec_cpu_period',
  'container_processes', 'container_threads', 'container_threads_max', 'container_file_descriptors',
  'container_network_receive_bytes_total', 'container_network_receive_packets_total', 'container_network_receive_errors_total',
  'container_network_transmit_bytes_total', 'container_network_transmit_packets_total', 'container_network_transmit_errors_total',
  'container_start_time_seconds', 'container_oom_events_total',
];

export interface Diff { max_rel_diff: number; series: number; missing_in_cadvisor: number; worst?: string; compared?: number; exact?: number }

/**
 * Largest relative difference per metric for the bench's containers "at the same moment": both peers
 * stamp every sample with its collection time and each housekeeps on its own cadence, so each of our
 * samples is compared with what cAdvisor's samples say about that moment. Between cAdvisor's two
 * samples around it the value was within their range (a counter only grows; an idle gauge moves in
 * steps), so ours counts as off only by its distance outside that range; when both of cAdvisor's
 * samples agree that is an exact comparison. A sample with none of cAdvisor's around it is compared
 * with the closest one (and the gap reported). Per series, the worst of our samples counts.
 * `missing_in_cadvisor` counts our series the peer lacks; `exact` how many comparisons had one value.
 */
export function compare(ours: string[], theirs: string[]): Record<string, Diff> {
  const key = (s: Sample) => [s.name, s.labels.name, s.labels.interface, s.labels.cpu, s.labels.failure_type, s.labels.scope].join('|');
  const collect = (texts: string[], keep: (s: Sample) => boolean) => {
    const m = new Map<string, Sample[]>();
    for (const text of texts) {
      for (const s of parseExposition(text)) {
        if (!keep(s)) continue;
        const k = key(s);
        const list = m.get(k);
        if (!list) m.set(k, [s]);
        else if (!list.some((x) => x.ts === s.ts)) list.push(s);
      }
    }
    return m;
  };
  const ourSeries = collect(ours, (s) => COMPARED.includes(s.name) && !!s.labels.name?.startsWith(PREFIX));
  const peer = collect(theirs, (s) => !!s.labels.name?.startsWith(PREFIX));
  const out: Record<string, Diff> = {};
  for (const [k, mine] of ourSeries) {
    const name = mine[0]!.name;
    const r = (out[name] ??= { max_rel_diff: 0, series: 0, missing_in_cadvisor: 0, compared: 0, exact: 0 });
    const their = peer.get(k);
    if (their === undefined) {
      r.missing_in_cadvisor++;
      continue;
    }
    const sorted = [...their].filter((b) => b.ts !== undefined).sort((a, b) => a.ts! - b.ts!);
    const verdicts = mine.filter((a) => a.ts !== undefined).map((a) => judge(a, sorted)).filter((v) => v !== undefined);
    if (!verdicts.length) verdicts.push({ s: mine[0]!, lo: their[0]!.value, hi: their[0]!.value, gap: Infinity });
    const bracketed = verdicts.filter((v) => v.gap === 0);
    r.series++;
    for (const v of bracketed.length ? bracketed : [verdicts.reduce((a, b) => (b.gap < a.gap ? b : a))]) {
      r.compared!++;
      if (v.lo === v.hi) r.exact!++;
      const x = v.s.value;
      const edge = x < v.lo ? v.lo : x > v.hi ? v.hi : x;
      const rel = x === edge ? 0 : Math.abs(x - edge) / Math.max(Math.abs(x), Math.abs(edge));
      if (round(rel, 4) > r.max_rel_diff) {
        r.max_rel_diff = round(rel, 4);
        const what = v.gap === 0 ? (v.lo === v.hi ? `cAdvisor ${v.lo} before and after our sample` : `cAdvisor went ${v.lo}..${v.hi} around our sample`) : `cAdvisor ${v.lo}${v.gap < Infinity ? `, sampled ${(v.gap / 1000).toFixed(1)} s apart` : ''}`;
        r.worst = `${v.s.labels.name}: dockerlet ${x}, ${what}`;
      }
    }
  }
  return out;
}

/** What cAdvisor's samples say about the value at our sample's time: the range of the two around it, or the closest. */
function judge(a: Sample, sorted: Sample[]): { s: Sample; lo: number; hi: number; gap: number } | undefined {
  let closest: { s: Sample; lo: number; hi: number; gap: number } | undefined;
  for (let i = 0; i < sorted.length; i++) {
    const b = sorted[i]!;
    const next = sorted[i + 1];
    if (next && b.ts! <= a.ts! && a.ts! <= next.ts!) return { s: a, lo: Math.min(b.value, next.value), hi: Math.max(b.value, next.value), gap: 0 };
    const gap = Math.abs(a.ts! - b.ts!);
    if (!closest || gap < closest.gap) closest = { s: a, lo: b.value, hi: b.value, gap };
  }
  return closest;
}

/** Per metric, the worst of several rounds' comparisons (largest difference, most missing series). */
export function worstOf(rounds: Record<string, Diff>[]): Record<string, Diff> {
  const out: Record<string, Diff> = {};
  for (const r of rounds) {
    for (const [name, d] of Object.entries(r)) {
      const o = out[name];
      if (!o) out[name] = { ...d };
      else {
        if (d.max_rel_diff > o.max_rel_diff) {
          o.max_rel_diff = d.max_rel_diff;
          if (d.worst) o.worst = d.worst;
        }
        o.series = Math.min(o.series, d.series);
        o.compared = (o.compared ?? 0) + (d.compared ?? 0);
        o.exact = (o.exact ?? 0) + (d.exact ?? 0);
        o.missing_in_cadvisor = Math.max(o.missing_in_cadvisor, d.missing_in_cadvisor);
      }
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}
