// /stats/summary: the kubelet's Summary API (k8s.io/kubelet/pkg/apis/stats/v1alpha1 types.go) as the
// summary provider fills it (pkg/kubelet/stats): node cpu/memory/network/fs + runtime imageFs, pods with
// their containers (sandboxes excluded), pod cpu/memory/network and process count. Times RFC 3339,
// CPU usageNanoCores from the last two housekeepings, memory availableBytes = limit − workingSet (only
// when there is a limit). Per-container rootfs/logs usage and volume usage need du-style walks and are
// not reported (the fields are optional). `only_cpu_and_memory=true` trims as the kubelet does.
import type { Entry, FsInfo, Snapshot } from '../types.js';

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function cpu(e: Entry) {
  return {
    time: iso(e.time),
    ...(e.usageNanoCores !== undefined ? { usageNanoCores: e.usageNanoCores } : {}),
    usageCoreNanoSeconds: e.sample.cpu.totalNs,
  };
}

function memory(e: Entry, limit: number) {
  const m = e.sample.memory;
  return {
    time: iso(e.time),
    ...(limit > 0 ? { availableBytes: Math.max(0, limit - m.workingSet) } : {}),
    usageBytes: m.usage,
    workingSetBytes: m.workingSet,
    rssBytes: m.rss,
    pageFaults: m.pgfault,
    majorPageFaults: m.pgmajfault,
  };
}

function network(e: Entry) {
  if (e.network.length === 0) return undefined;
  const ifaces = e.network.map((i) => ({ name: i.name, rxBytes: i.rxBytes, rxErrors: i.rxErrors, txBytes: i.txBytes, txErrors: i.txErrors }));
  const def = ifaces.find((i) => i.name === 'eth0') ?? ifaces[0]!;
  return { time: iso(e.time), ...def, interfaces: ifaces };
}

function fs(f: FsInfo | undefined, time: number) {
  if (!f) return undefined;
  return {
    time: iso(time), availableBytes: f.availableBytes, capacityBytes: f.capacityBytes, usedBytes: f.usedBytes,
    inodesFree: f.inodesFree, inodes: f.inodes, inodesUsed: f.inodes - f.inodesFree,
  };
}

export interface SummaryOptions {
  nodeName: string;
  onlyCpuAndMemory?: boolean;
}

export function buildSummary(snap: Snapshot, opts: SummaryOptions): unknown {
  const only = opts.onlyCpuAndMemory === true;
  const n = snap.node;
  const node: Record<string, unknown> = {
    nodeName: opts.nodeName,
    startTime: iso(n.startTime),
    cpu: cpu(n),
    memory: memory(n, snap.machine.memoryBytes),
  };
  if (!only) {
    const net = network(n);
    if (net) node.network = net;
    const rootFs = fs(snap.rootFs, snap.time);
    if (rootFs) node.fs = rootFs;
    const imageFs = fs(snap.imageFs, snap.time);
    if (imageFs) node.runtime = { imageFs };
  }
  const byPod = new Map<string, Entry[]>();
  for (const c of snap.containers) {
    const p = c.meta?.pod;
    if (!p || p.sandbox) continue;
    const key = `${p.namespace}/${p.name}/${p.uid}`;
    byPod.set(key, [...(byPod.get(key) ?? []), c]);
  }
  const pods = snap.pods.map((p) => {
    const members = byPod.get(`${p.pod!.namespace}/${p.pod!.name}/${p.pod!.uid}`) ?? [];
    const out: Record<string, unknown> = {
      podRef: { name: p.pod!.name, namespace: p.pod!.namespace, uid: p.pod!.uid },
      startTime: iso(p.startTime),
      containers: members.map((c) => ({
        name: c.meta!.pod!.container,
        startTime: iso(c.startTime),
        cpu: cpu(c),
        memory: memory(c, c.sample.spec.memoryLimit),
      })),
      cpu: cpu(p),
      memory: memory(p, p.sample.spec.memoryLimit),
    };
    if (!only) {
      const net = network(p);
      if (net) out.network = net;
      out.process_stats = { process_count: p.sample.processes.processes };
    }
    return out;
  });
  return { node, pods };
}
