// Docker-side timestamps of the bench's pods (sandbox/app container created and started, ns
// precision from inspect) and the pure statistics built on them: percentiles, per-stage breakdown,
// and the effective parallelism of the agent (pods in flight between sandbox create and app start).
import type Dockerode from 'dockerode';

export interface PodDockerTimes {
  uid: string;
  sandboxCreatedMs?: number;
  sandboxStartedMs?: number;
  appCreatedMs?: number;
  appStartedMs?: number;
  containers: number;
}

const ms = (iso: string | undefined): number | undefined => {
  if (!iso || iso.startsWith('0001-')) return undefined;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
};

export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Inspects every container of the namespace's pods (optionally only some UIDs); first instance per pod. */
export async function dockerTimeline(docker: Dockerode, namespace: string, uids?: Set<string>): Promise<Map<string, PodDockerTimes>> {
  const filters: Record<string, string[]> = { label: [`io.kubernetes.pod.namespace=${namespace}`] };
  if (uids?.size === 1) filters.label!.push(`io.kubernetes.pod.uid=${[...uids][0]}`);
  const list = await docker.listContainers({ all: true, filters });
  const mine = list.filter((c) => !uids || uids.has(c.Labels['io.kubernetes.pod.uid'] ?? ''));
  const infos = await mapLimit(mine, 8, (c) => docker.getContainer(c.Id).inspect().catch(() => undefined));
  const out = new Map<string, PodDockerTimes>();
  for (const info of infos) {
    if (!info) continue;
    const labels = info.Config.Labels ?? {};
    const uid = labels['io.kubernetes.pod.uid'];
    if (!uid) continue;
    const t = out.get(uid) ?? { uid, containers: 0 };
    t.containers++;
    const created = ms(info.Created);
    const started = ms(info.State.StartedAt);
    const isSandbox = labels['io.kubernetes.docker.type'] === 'podsandbox';
    // Keep the earliest instance of each (a restart would add later ones).
    if (isSandbox) {
      if (t.sandboxCreatedMs === undefined || (created ?? Infinity) < t.sandboxCreatedMs) {
        t.sandboxCreatedMs = created;
        t.sandboxStartedMs = started;
      }
    } else if (t.appCreatedMs === undefined || (created ?? Infinity) < t.appCreatedMs) {
      t.appCreatedMs = created;
      t.appStartedMs = started;
    }
    out.set(uid, t);
  }
  return out;
}

export function percentile(values: number[], p: number): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  // Nearest-rank: the smallest value with at least p% of the samples at or below it.
  const rank = Math.ceil((p / 100) * v.length);
  return v[Math.min(v.length, Math.max(1, rank)) - 1]!;
}

export function mean(values: number[]): number {
  const v = values.filter(Number.isFinite);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

export const round = (x: number, digits = 3): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : NaN);

/** Intervals [start, end] → the most that overlap, and the time-weighted mean overlap over their span. */
export function overlap(intervals: [number, number][]): { max: number; mean: number; spanMs: number } {
  const ev: [number, number][] = [];
  for (const [a, b] of intervals) if (Number.isFinite(a) && Number.isFinite(b) && b >= a) ev.push([a, 1], [b, -1]);
  if (ev.length === 0) return { max: 0, mean: 0, spanMs: 0 };
  ev.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let cur = 0;
  let max = 0;
  let area = 0;
  let last = ev[0]![0];
  for (const [t, d] of ev) {
    area += cur * (t - last);
    last = t;
    cur += d;
    max = Math.max(max, cur);
  }
  const spanMs = ev[ev.length - 1]![0] - ev[0]![0];
  return { max, mean: spanMs > 0 ? area / spanMs : max, spanMs };
}

export interface Dist {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  max: number;
  n: number;
}

/** p50/p90/p99/mean (seconds) of a list of millisecond durations. */
export function dist(msValues: number[]): Dist {
  const v = msValues.filter(Number.isFinite);
  return {
    p50: round(percentile(v, 50) / 1000),
    p90: round(percentile(v, 90) / 1000),
    p99: round(percentile(v, 99) / 1000),
    mean: round(mean(v) / 1000),
    max: round(Math.max(...v) / 1000),
    n: v.length,
  };
}
