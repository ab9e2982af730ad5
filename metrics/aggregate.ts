// Pod-level entries from container entries, for the series the kubelet's cAdvisor shows for a pod's
// cgroup (labels pod/namespace, container=""), the pod stats of /stats/summary and the pod_* series of
// /metrics/resource. Docker containers here have no per-pod cgroup by default, so a pod's values are
// the sum over its containers (sandbox included, as the pod cgroup's would be) and its network is the
// sandbox's. Pure functions.
import type { BlkioDevice, CgroupSample, Entry } from './types.js';

/** Sums samples (counters and usage add up; limits add up only when every member has one). */
export function sumSamples(samples: CgroupSample[]): CgroupSample {
  const blk = new Map<string, BlkioDevice>();
  const out: CgroupSample = {
    cpu: { totalNs: 0, userNs: 0, systemNs: 0 },
    memory: {
      usage: 0, maxUsage: 0, workingSet: 0, rss: 0, cache: 0, swap: 0, mappedFile: 0, failcnt: 0,
      pgfault: 0, pgmajfault: 0, hierPgfault: 0, hierPgmajfault: 0, activeFile: 0, inactiveFile: 0,
    },
    blkio: [],
    processes: { processes: 0, threads: 0, threadsMax: 0, fds: 0, sockets: 0 },
    spec: { cpuQuota: 0, cpuPeriod: 0, cpuShares: 0, memoryLimit: 0, memorySwapLimit: 0, memoryReservation: 0 },
    pids: [],
  };
  let allMemLimited = samples.length > 0;
  for (const s of samples) {
    out.cpu.totalNs += s.cpu.totalNs;
    out.cpu.userNs += s.cpu.userNs;
    out.cpu.systemNs += s.cpu.systemNs;
    for (const k of Object.keys(out.memory) as (keyof typeof out.memory)[]) out.memory[k] += s.memory[k];
    for (const k of Object.keys(out.processes) as (keyof typeof out.processes)[]) out.processes[k] += s.processes[k];
    out.spec.cpuShares += s.spec.cpuShares;
    out.spec.memoryReservation += s.spec.memoryReservation;
    if (s.spec.memoryLimit > 0) out.spec.memoryLimit += s.spec.memoryLimit;
    else allMemLimited = false;
    if (s.oomKills !== undefined) out.oomKills = (out.oomKills ?? 0) + s.oomKills;
    for (const d of s.blkio) {
      const key = `${d.major}:${d.minor}`;
      const acc = blk.get(key) ?? { major: d.major, minor: d.minor, readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
      acc.readBytes += d.readBytes; acc.writeBytes += d.writeBytes; acc.reads += d.reads; acc.writes += d.writes;
      blk.set(key, acc);
    }
    out.pids.push(...s.pids);
  }
  if (!allMemLimited) out.spec.memoryLimit = 0;
  out.blkio = [...blk.values()];
  return out;
}

/** Groups pod containers into pod entries (sorted by namespace/name). */
export function podEntries(containers: Entry[]): Entry[] {
  const groups = new Map<string, Entry[]>();
  for (const c of containers) {
    const p = c.meta?.pod;
    if (!p) continue;
    const key = `${p.namespace}/${p.name}/${p.uid}`;
    const g = groups.get(key);
    if (g) g.push(c);
    else groups.set(key, [c]);
  }
  const out: Entry[] = [];
  for (const members of groups.values()) {
    const p = members[0]!.meta!.pod!;
    const sandbox = members.find((m) => m.meta?.pod?.sandbox);
    const rates = members.map((m) => m.usageNanoCores);
    const entry: Entry = {
      id: podCgroupId(members, p.uid),
      kind: 'pod',
      pod: { name: p.name, namespace: p.namespace, uid: p.uid },
      sample: sumSamples(members.map((m) => m.sample)),
      network: sandbox?.network ?? members.find((m) => m.network.length > 0)?.network ?? [],
      oomEvents: members.reduce((n, m) => n + m.oomEvents, 0),
      time: Math.max(...members.map((m) => m.time)),
      startTime: sandbox?.startTime ?? Math.min(...members.map((m) => m.startTime)),
    };
    if (rates.every((r) => r !== undefined)) entry.usageNanoCores = (rates as number[]).reduce((a, b) => a + b, 0);
    out.push(entry);
  }
  return out.sort((a, b) => `${a.pod!.namespace}/${a.pod!.name}`.localeCompare(`${b.pod!.namespace}/${b.pod!.name}`));
}

/**
 * The pod's id label: the shared parent cgroup when its containers have one of their own (a kubelet
 * cgroupParent such as /kubepods/burstable/pod<uid>), else /kubepods/pod<uid> (the path the
 * kubelet would have made; dockerlet does not create it).
 */
export function podCgroupId(members: Entry[], uid: string): string {
  const parents = new Set(members.map((m) => m.id.slice(0, m.id.lastIndexOf('/')) || '/'));
  const [only] = parents;
  if (parents.size === 1 && only && only.includes(uid)) return only;
  return `/kubepods/pod${uid}`;
}
