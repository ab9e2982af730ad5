// /metrics/cadvisor (and standalone /metrics): cAdvisor's Prometheus collector (metrics/prometheus.go)
// for the metric sets the kubelet enables (cpu, memory, diskIO, network, process, oom_event) plus the
// machine collector (metrics/prometheus_machine.go). Names, types, units and help as cAdvisor's, with
// two deliberate differences: per-CPU series are off (cpu="total" only), and container_memory_failcnt
// is typed gauge (a counter without _total fails `promtool check metrics`). Labels: the kubelet's
// (container, id, image, name, namespace, pod) or, for a plain Docker host, cAdvisor's defaults
// (container_label_*, id, image, name). Samples carry the collection time as cAdvisor's do.
// cadvisor_version_info is left out: its camelCase label names fail `promtool check metrics`.
import type { Entry, Snapshot } from '../types.js';
import { deviceName } from '../machine.js';
import { labels, sanitizeName, TextWriter, withLabels, type MetricType } from './text.js';

export interface CadvisorFormatOptions {
  /** 'kubelet': pod labels and pod/node series; 'docker': Docker labels as container_label_*. */
  mode: 'kubelet' | 'docker';
  /** docker mode: which Docker labels become container_label_* ('all' as cAdvisor's default). */
  containerLabels?: 'all' | 'none' | string[];
  /** Explicit sample timestamps (collection time), as cAdvisor; default true. */
  timestamps?: boolean;
}

type Val = (e: Entry) => number | undefined;
const NS = 1e9;

const SIMPLE: [string, MetricType, string, Val][] = [
  ['container_cpu_system_seconds_total', 'counter', 'Cumulative system cpu time consumed in seconds.', (e) => e.sample.cpu.systemNs / NS],
  ['container_cpu_user_seconds_total', 'counter', 'Cumulative user cpu time consumed in seconds.', (e) => e.sample.cpu.userNs / NS],
  ['container_cpu_cfs_periods_total', 'counter', 'Number of elapsed enforcement period intervals.', (e) => cfs(e)?.periods],
  ['container_cpu_cfs_throttled_periods_total', 'counter', 'Number of throttled period intervals.', (e) => cfs(e)?.throttledPeriods],
  ['container_cpu_cfs_throttled_seconds_total', 'counter', 'Total time duration the container has been throttled.', (e) => cfs(e) && (cfs(e)!.throttledNs ?? 0) / NS],
  ['container_file_descriptors', 'gauge', 'Number of open file descriptors for the container.', (e) => (e.kind === 'node' ? undefined : e.sample.processes.fds)],
  ['container_memory_cache', 'gauge', 'Number of bytes of page cache memory.', (e) => e.sample.memory.cache],
  ['container_memory_failcnt', 'gauge', 'Number of memory usage hits limits', (e) => e.sample.memory.failcnt],
  ['container_memory_mapped_file', 'gauge', 'Size of memory mapped files in bytes.', (e) => e.sample.memory.mappedFile],
  ['container_memory_max_usage_bytes', 'gauge', 'Maximum memory usage recorded in bytes', (e) => e.sample.memory.maxUsage],
  ['container_memory_rss', 'gauge', 'Size of RSS in bytes.', (e) => e.sample.memory.rss],
  ['container_memory_swap', 'gauge', 'Container swap usage in bytes.', (e) => e.sample.memory.swap],
  ['container_memory_total_active_file_bytes', 'gauge', 'Current total active file in bytes.', (e) => e.sample.memory.activeFile],
  ['container_memory_total_inactive_file_bytes', 'gauge', 'Current total inactive file in bytes.', (e) => e.sample.memory.inactiveFile],
  ['container_memory_usage_bytes', 'gauge', 'Current memory usage in bytes, including all memory regardless of when it was accessed', (e) => e.sample.memory.usage],
  ['container_memory_working_set_bytes', 'gauge', 'Current working set in bytes.', (e) => e.sample.memory.workingSet],
  ['container_oom_events_total', 'counter', 'Count of out of memory events observed for the container', (e) => e.oomEvents],
  ['container_processes', 'gauge', 'Number of processes running inside the container.', (e) => e.sample.processes.processes],
  ['container_threads', 'gauge', 'Number of threads running inside the container', (e) => e.sample.processes.threads],
  ['container_threads_max', 'gauge', 'Maximum number of threads allowed inside the container, infinity if value is zero', (e) => e.sample.processes.threadsMax],
];

const SPEC: [string, string, Val][] = [
  ['container_spec_cpu_period', 'CPU period of the container.', (e) => e.sample.spec.cpuPeriod || undefined],
  ['container_spec_cpu_quota', 'CPU quota of the container.', (e) => e.sample.spec.cpuQuota || undefined],
  ['container_spec_cpu_shares', 'CPU share of the container.', (e) => e.sample.spec.cpuShares],
  ['container_spec_memory_limit_bytes', 'Memory limit for the container.', (e) => e.sample.spec.memoryLimit],
  ['container_spec_memory_reservation_limit_bytes', 'Memory reservation limit for the container.', (e) => e.sample.spec.memoryReservation],
  ['container_spec_memory_swap_limit_bytes', 'Memory swap limit for the container.', (e) => e.sample.spec.memorySwapLimit],
];

const NET: [string, string, keyof Entry['network'][number]][] = [
  ['container_network_receive_bytes_total', 'Cumulative count of bytes received', 'rxBytes'],
  ['container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving', 'rxErrors'],
  ['container_network_receive_packets_dropped_total', 'Cumulative count of packets dropped while receiving', 'rxDropped'],
  ['container_network_receive_packets_total', 'Cumulative count of packets received', 'rxPackets'],
  ['container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted', 'txBytes'],
  ['container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting', 'txErrors'],
  ['container_network_transmit_packets_dropped_total', 'Cumulative count of packets dropped while transmitting', 'txDropped'],
  ['container_network_transmit_packets_total', 'Cumulative count of packets transmitted', 'txPackets'],
];

function cfs(e: Entry) {
  return e.sample.spec.cpuQuota > 0 && e.sample.cpu.periods !== undefined ? e.sample.cpu : undefined;
}

/** The entries a mode shows: kubelet = node + pods + containers; docker = "/" + containers. */
export function entriesFor(snap: Snapshot, mode: CadvisorFormatOptions['mode']): Entry[] {
  return mode === 'kubelet' ? [snap.node, ...snap.pods, ...snap.containers] : [snap.node, ...snap.containers];
}

/** The base label string of each entry. */
export function baseLabels(entries: Entry[], opts: CadvisorFormatOptions): Map<Entry, string> {
  const out = new Map<Entry, string>();
  if (opts.mode === 'kubelet') {
    for (const e of entries) {
      const p = e.meta?.pod ?? (e.pod ? { ...e.pod, container: '' } : undefined);
      out.set(e, labels([
        ['container', e.meta?.pod?.container ?? ''], ['id', e.id], ['image', e.meta?.image ?? ''],
        ['name', e.meta?.name ?? ''], ['namespace', p?.namespace ?? ''], ['pod', p?.name ?? ''],
      ]));
    }
    return out;
  }
  const which = opts.containerLabels ?? 'all';
  const keys = new Set<string>();
  if (which !== 'none') {
    for (const e of entries) for (const k of Object.keys(e.meta?.labels ?? {})) if (which === 'all' || which.includes(k)) keys.add(k);
  }
  // Two Docker labels that sanitize alike (a.b and a_b) share one label name; the first in order wins.
  const byName = new Map<string, string>();
  for (const k of [...keys].sort()) {
    const n = `container_label_${sanitizeName(k)}`;
    if (!byName.has(n)) byName.set(n, k);
  }
  const names = [...byName].map(([n, k]) => [k, n] as const).sort((a, b) => (a[1] < b[1] ? -1 : 1));
  for (const e of entries) {
    const pairs: [string, string][] = names.map(([k, n]) => [n, e.meta?.labels[k] ?? '']);
    pairs.push(['id', e.id], ['image', e.meta?.image ?? ''], ['name', e.meta?.name ?? '']);
    out.set(e, labels(pairs));
  }
  return out;
}

/** Formats the snapshot as cAdvisor's /metrics. */
export function formatCadvisor(snap: Snapshot, opts: CadvisorFormatOptions): string {
  const w = new TextWriter();
  const entries = entriesFor(snap, opts.mode);
  const base = baseLabels(entries, opts);
  const ts = (e: Entry) => (opts.timestamps === false ? undefined : e.time);
  const m = snap.machine;
  const simple = (name: string, type: MetricType, help: string, val: Val) => {
    w.family(name, type, help);
    for (const e of entries) {
      const v = val(e);
      if (v !== undefined) w.sample(base.get(e)!, v, ts(e));
    }
  };
  const byName = new Map<string, () => void>();
  for (const [name, type, help, val] of SIMPLE) byName.set(name, () => simple(name, type, help, val));
  byName.set('container_cpu_usage_seconds_total', () => {
    w.family('container_cpu_usage_seconds_total', 'counter', 'Cumulative cpu time consumed in seconds.');
    for (const e of entries) w.sample(withLabels(base.get(e)!, [['cpu', 'total']]), e.sample.cpu.totalNs / NS, ts(e));
  });
  byName.set('container_memory_failures_total', () => {
    w.family('container_memory_failures_total', 'counter', 'Cumulative count of memory allocation failures.');
    for (const e of entries) {
      const mem = e.sample.memory;
      for (const [type, scope, v] of [['pgfault', 'container', mem.pgfault], ['pgfault', 'hierarchy', mem.hierPgfault],
        ['pgmajfault', 'container', mem.pgmajfault], ['pgmajfault', 'hierarchy', mem.hierPgmajfault]] as const) {
        w.sample(withLabels(base.get(e)!, [['failure_type', type], ['scope', scope]]), v, ts(e));
      }
    }
  });
  for (const [name, help, key] of NET) {
    byName.set(name, () => {
      w.family(name, 'counter', help);
      for (const e of entries) for (const i of e.network) w.sample(withLabels(base.get(e)!, [['interface', i.name]]), i[key] as number, ts(e));
    });
  }
  const dev = (e: Entry, d: Entry['sample']['blkio'][number]) => deviceName(`${d.major}:${d.minor}`, snap.devices);
  const fs: [string, string, 'readBytes' | 'writeBytes' | 'reads' | 'writes'][] = [
    ['container_fs_reads_bytes_total', 'Cumulative count of bytes read', 'readBytes'],
    ['container_fs_reads_total', 'Cumulative count of reads completed', 'reads'],
    ['container_fs_writes_bytes_total', 'Cumulative count of bytes written', 'writeBytes'],
    ['container_fs_writes_total', 'Cumulative count of writes completed', 'writes'],
  ];
  for (const [name, help, key] of fs) {
    byName.set(name, () => {
      w.family(name, 'counter', help);
      for (const e of entries) for (const d of e.sample.blkio) w.sample(withLabels(base.get(e)!, [['device', dev(e, d)]]), d[key], ts(e));
    });
  }
  byName.set('container_blkio_device_usage_total', () => {
    w.family('container_blkio_device_usage_total', 'counter', 'Blkio Device bytes usage');
    for (const e of entries) {
      for (const d of e.sample.blkio) {
        for (const [op, v] of [['Read', d.readBytes], ['Write', d.writeBytes]] as const) {
          w.sample(withLabels(base.get(e)!, [['device', dev(e, d)], ['major', String(d.major)], ['minor', String(d.minor)], ['operation', op]]), v, ts(e));
        }
      }
    }
  });
  byName.set('container_last_seen', () => {
    w.family('container_last_seen', 'gauge', 'Last time a container was seen by the exporter');
    // The time the collector last read the container (cAdvisor writes the scrape time; with samples
    // stamped at collection time the two agree, and a scrape can then reuse the formatted text).
    for (const e of entries) w.sample(base.get(e)!, Math.floor(e.time / 1000), ts(e));
  });
  byName.set('container_start_time_seconds', () => {
    w.family('container_start_time_seconds', 'gauge', 'Start time of the container since unix epoch in seconds.');
    for (const e of entries) w.sample(base.get(e)!, Math.floor(e.startTime / 1000), ts(e));
  });
  for (const [name, help, val] of SPEC) byName.set(name, () => simple(name, 'gauge', help, val));
  for (const name of [...byName.keys()].sort()) byName.get(name)!();
  w.family('container_scrape_error', 'gauge', '1 if there was an error while getting container metrics, 0 otherwise').sample('', snap.scrapeError ? 1 : 0);
  const ml = labels([['boot_id', m.bootId], ['machine_id', m.machineId], ['system_uuid', m.systemUuid]]);
  w.family('machine_cpu_cores', 'gauge', 'Number of logical CPU cores.').sample(ml, m.cpuCores);
  w.family('machine_cpu_physical_cores', 'gauge', 'Number of physical CPU cores.').sample(ml, m.physicalCores);
  w.family('machine_cpu_sockets', 'gauge', 'Number of CPU sockets.').sample(ml, m.sockets);
  w.family('machine_memory_bytes', 'gauge', 'Amount of memory installed on the machine.').sample(ml, m.memoryBytes);
  w.family('machine_scrape_error', 'gauge', '1 if there was an error while getting machine metrics, 0 otherwise.').sample('', 0);
  return w.toString();
}
