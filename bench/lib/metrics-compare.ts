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
 * cadence, so over several simultaneous scrapes each of our samples is compared with cAdvisor's value
 * at that time (linear between its two samples around it; else its closest sample).
 * `missing_in_cadvisor` counts our series the peer lacks.
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
    // Ours against theirs at our sample's own time: interpolated between the two cAdvisor samples
    // around it when there are such (counters move between two peers' reads), else the closest one.
    let best = { s: mine[0]!, v: their[0]!.value, gap: Infinity };
    const sorted = [...their].sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
    for (const a of mine) {
      if (a.ts === undefined) continue;
      for (let i = 0; i < sorted.length; i++) {
        const b = sorted[i]!;
        const next = sorted[i + 1];
        if (b.ts === undefined) continue;
        if (next?.ts !== undefined && b.ts <= a.ts && a.ts <= next.ts) {
          const v = next.ts === b.ts ? b.value : b.value + ((next.value - b.value) * (a.ts - b.ts)) / (next.ts - b.ts);
          if (best.gap > 0) best = { s: a, v, gap: 0 };
        } else if (Math.abs(a.ts - b.ts) < best.gap) best = { s: a, v: b.value, gap: Math.abs(a.ts - b.ts) };
      }
    }
    const s = best.s;
    const pv = best.v;
    const rel = s.value === pv ? 0 : Math.abs(s.value - pv) / Math.max(Math.abs(s.value), Math.abs(pv));
    r.series++;
    if (round(rel, 4) > r.max_rel_diff) {
      r.max_rel_diff = round(rel, 4);
      // A gap explains a moving counter (0: cAdvisor's value interpolated at our sample's time).
      const gap = best.gap === 0 ? ', cAdvisor interpolated at our sample time' : best.gap < Infinity ? `, sampled ${(best.gap / 1000).toFixed(1)} s apart` : '';
      r.worst = `${s.labels.name}: dockerlet ${s.value}, cAdvisor ${round(pv, 1)}${gap}`;
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
