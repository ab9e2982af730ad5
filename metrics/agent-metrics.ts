// The agent's own /metrics and /metrics/probes: prom-client's default registry with its process and
// Node.js metrics, the kubelet's names where they fit (pkg/kubelet/metrics/metrics.go:
// kubelet_running_pods, kubelet_running_containers{container_state}, kubelet_pod_start_sli_duration_seconds),
// dockerlet_* counters for what has no kubelet name, and the prober's prober_probe_total
// (pkg/kubelet/prober/prober_manager.go) in a registry of its own, as the kubelet serves it on
// /metrics/probes. prom-client's nodejs_active_{handles,requests,resources}_total gauges are left out
// of the exposition: a gauge named *_total fails `promtool check metrics` (their unsuffixed twins stay).
import { collectDefaultMetrics, Counter, Gauge, Histogram, register, Registry } from 'prom-client';
import type { Snapshot } from './types.js';

const LINT_FAILING = new Set(['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']);

let defaultsCollected = false;
/** Turns on prom-client's process/Node.js metrics in the default registry (once per process). */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  // prom-client samples the event-loop delay with a libuv timer every eventLoopMonitoringPrecision ms:
  // its default 10 woke an idle agent 100 times a second (most of its idle CPU). Once a second still
  // feeds nodejs_eventloop_lag_* (a stalled loop shows as a late tick).
  collectDefaultMetrics({ register, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
}

/** How often the event-loop delay histogram samples (ms). */
export const EVENT_LOOP_SAMPLE_MS = 1000;

function getOrCreate<T>(name: string, make: () => T, reg: Registry = register): T {
  return (reg.getSingleMetric(name) as T | undefined) ?? make();
}

/** Pod start SLI (excludes image pulls in upstream); observed by the pod workers, in seconds. */
export const podStartSliDuration = getOrCreate('kubelet_pod_start_sli_duration_seconds', () => new Histogram({
  name: 'kubelet_pod_start_sli_duration_seconds',
  help: 'Duration in seconds to start a pod, excluding time to pull images and run init containers, measured from pod creation timestamp to when all its containers are reported as started and observed via watch',
  buckets: [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600],
}));

/** Pod syncs by result (success|error); incremented by the pod workers. */
export const podSyncs = getOrCreate('dockerlet_pod_syncs_total', () => new Counter({
  name: 'dockerlet_pod_syncs_total', help: 'Pod sync passes by result.', labelNames: ['result'] as const,
}));

/** Errors by stable error code (DKL_ERR_*) and component. */
export const errorsTotal = getOrCreate('dockerlet_errors_total', () => new Counter({
  name: 'dockerlet_errors_total', help: 'Errors by component and stable error code.', labelNames: ['component', 'code'] as const,
}));

/** Reconnections of API watches, by resource. */
export const watchReconnects = getOrCreate('dockerlet_watch_reconnects_total', () => new Counter({
  name: 'dockerlet_watch_reconnects_total', help: 'Watch reconnections by resource.', labelNames: ['resource'] as const,
}));

/** The probe registry served on /metrics/probes. */
export const probeRegistry = new Registry();

/** prober_probe_total{probe_type,result,container,pod,namespace,pod_uid}; result successful|failed|unknown. */
export const proberProbeTotal = new Counter({
  name: 'prober_probe_total',
  help: 'Cumulative number of a liveness, readiness or startup probe for a container by result.',
  labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace', 'pod_uid'] as const,
  registers: [probeRegistry],
});

/** Pods with a running sandbox in the snapshot (the kubelet's kubelet_running_pods). */
export function runningPods(s: Snapshot | undefined): number {
  const uids = new Set<string>();
  for (const c of s?.containers ?? []) if (c.meta?.pod?.sandbox) uids.add(`${c.meta.pod.namespace}/${c.meta.pod.name}/${c.meta.pod.uid}`);
  return uids.size;
}

/** Running pod containers, sandboxes not counted (the kubelet's kubelet_running_containers{container_state="running"}). */
export function runningContainers(s: Snapshot | undefined): number {
  let n = 0;
  for (const c of s?.containers ?? []) if (c.meta?.pod && !c.meta.pod.sandbox) n++;
  return n;
}

/**
 * Running pods/containers gauges and the collector's housekeeping time, computed from the collector's
 * snapshot at scrape time. Returns a function that unregisters them.
 */
export function registerSnapshotGauges(snapshot: () => Snapshot | undefined, housekeepingMs: () => number): () => void {
  const names = ['kubelet_running_pods', 'kubelet_running_containers', 'dockerlet_metrics_housekeeping_seconds'];
  for (const n of names) register.removeSingleMetric(n);
  new Gauge({
    name: 'kubelet_running_pods', help: 'Number of pods that have a running pod sandbox',
    collect() { this.set(runningPods(snapshot())); },
  });
  new Gauge({
    name: 'kubelet_running_containers', help: 'Number of containers currently running', labelNames: ['container_state'] as const,
    collect() { this.set({ container_state: 'running' }, runningContainers(snapshot())); },
  });
  new Gauge({
    name: 'dockerlet_metrics_housekeeping_seconds', help: 'Duration of the metrics collector\'s last housekeeping pass.',
    collect() { this.set(housekeepingMs() / 1000); },
  });
  return () => { for (const n of names) register.removeSingleMetric(n); };
}

/** Drops the families that fail promtool's lint from an exposition text. */
export function dropLintFailures(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = line.match(/^(?:# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)/);
    if (m && LINT_FAILING.has(m[1]!)) continue;
    out.push(line);
  }
  return out.join('\n');
}

/** The agent's /metrics text. */
export async function agentMetricsText(): Promise<string> {
  return dropLintFailures(await register.metrics());
}
