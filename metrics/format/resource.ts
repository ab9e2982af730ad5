// /metrics/resource: the kubelet's resource metrics collector (pkg/kubelet/metrics/collectors/
// resource_metrics.go) with its stable names, which metrics-server reads (node_cpu_usage_seconds_total,
// node_memory_working_set_bytes, container_cpu_usage_seconds_total, container_memory_working_set_bytes,
// container_start_time_seconds, pod_*; labels container, pod, namespace). Usage samples carry the
// collection time as explicit timestamps, as the kubelet's do. Sandboxes are not containers here
// (the kubelet's summary omits them), and a container with zero CPU or memory is left out so
// metrics-server does not drop the whole pod for it.
import type { Snapshot } from '../types.js';
import { labels, TextWriter } from './text.js';

export function formatResource(snap: Snapshot): string {
  const w = new TextWriter();
  const containers = snap.containers.filter((c) => c.meta?.pod && !c.meta.pod.sandbox);
  const cl = (c: (typeof containers)[number]) =>
    labels([['container', c.meta!.pod!.container], ['namespace', c.meta!.pod!.namespace], ['pod', c.meta!.pod!.name]]);
  const measurable = containers.filter((c) => c.sample.cpu.totalNs > 0 && c.sample.memory.workingSet > 0);
  w.family('container_cpu_usage_seconds_total', 'counter', '[STABLE] Cumulative cpu time consumed by the container in core-seconds');
  for (const c of measurable) w.sample(cl(c), c.sample.cpu.totalNs / 1e9, c.time);
  w.family('container_memory_working_set_bytes', 'gauge', '[STABLE] Current working set of the container in bytes');
  for (const c of measurable) w.sample(cl(c), c.sample.memory.workingSet, c.time);
  w.family('container_start_time_seconds', 'gauge', '[STABLE] Start time of the container since unix epoch in seconds');
  for (const c of containers) w.sample(cl(c), c.startTime / 1000);
  w.family('container_swap_usage_bytes', 'gauge', '[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems');
  for (const c of measurable) w.sample(cl(c), c.sample.memory.swap, c.time);
  w.family('node_cpu_usage_seconds_total', 'counter', '[STABLE] Cumulative cpu time consumed by the node in core-seconds')
    .sample('', snap.node.sample.cpu.totalNs / 1e9, snap.node.time);
  w.family('node_memory_working_set_bytes', 'gauge', '[STABLE] Current working set of the node in bytes')
    .sample('', snap.node.sample.memory.workingSet, snap.node.time);
  w.family('node_swap_usage_bytes', 'gauge', '[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems')
    .sample('', snap.node.sample.memory.swap, snap.node.time);
  const pl = (p: (typeof snap.pods)[number]) => labels([['namespace', p.pod!.namespace], ['pod', p.pod!.name]]);
  w.family('pod_cpu_usage_seconds_total', 'counter', '[STABLE] Cumulative cpu time consumed by the pod in core-seconds');
  for (const p of snap.pods) w.sample(pl(p), p.sample.cpu.totalNs / 1e9, p.time);
  w.family('pod_memory_working_set_bytes', 'gauge', '[STABLE] Current working set of the pod in bytes');
  for (const p of snap.pods) w.sample(pl(p), p.sample.memory.workingSet, p.time);
  w.family('pod_swap_usage_bytes', 'gauge', '[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems');
  for (const p of snap.pods) w.sample(pl(p), p.sample.memory.swap, p.time);
  w.family('resource_scrape_error', 'gauge', '[STABLE] 1 if there was an error while getting container metrics, 0 otherwise')
    .sample('', snap.scrapeError ? 1 : 0);
  return w.toString();
}
