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

export interface Diff { max_rel_diff: number; series: number; missing_in_cadvisor: number; worst?: string }

/**
 * Largest relative difference |a-b|/max(|a|,|b|) per metric for the bench's containers, "at the same
 * moment": both peers stamp every sample with its collection time and each housekeeps on its own
 * cadence, so over several simultaneous scrapes each series is compared on the pair of samples whose
 * timestamps are closest. `missing_in_cadvisor` counts our series the peer lacks.
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
    const r = (out[name] ??= { max_rel_diff: 0, series: 0, missing_in_cadvisor: 0 });
    const their = peer.get(k);
    if (their === undefined) {
      r.missing_in_cadvisor++;
      continue;
    }
    let best: [Sample, Sample] = [mine[0]!, their[0]!];
    let bestGap = Infinity;
    for (const a of mine) {
      for (const b of their) {
        const gap = a.ts !== undefined && b.ts !== undefined ? Math.abs(a.ts - b.ts) : Infinity;
        if (gap < bestGap) [best, bestGap] = [[a, b], gap];
      }
    }
    const [s, p] = best;
    const rel = s.value === p.value ? 0 : Math.abs(s.value - p.value) / Math.max(Math.abs(s.value), Math.abs(p.value));
    r.series++;
    if (round(rel, 4) > r.max_rel_diff) {
      r.max_rel_diff = round(rel, 4);
      // The samples' own collection times: a gap explains a moving counter.
      const gap = s.ts !== undefined && p.ts !== undefined ? `, sampled ${((s.ts - p.ts) / 1000).toFixed(1)} s apart` : '';
      r.worst = `${s.labels.name}: dockerlet ${s.value}, cAdvisor ${p.value}${gap}`;
    }
  }
  return out;
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
        o.missing_in_cadvisor = Math.max(o.missing_in_cadvisor, d.missing_in_cadvisor);
      }
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}
