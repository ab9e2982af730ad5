// Pod-level entries from container entries, for the series the kubelet's cAdvisor shows for a pod's
// cgroup (labels pod/namespace, container=""), the pod stats of /stats/summary and the pod_* series of
// /metrics/resource. Docker containers here have no per-pod cgroup by default, so a pod's values are
// the sum over its containers (sandbox included, as the pod cgroup's would be) and its network is the
// sandbox's. Pure functions (podEntries takes an optional memo the caller keeps between passes: a pod
// whose members' samples are the same objects as last time reuses its sum).
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

/** Per pod (namespace/name/uid): the member samples and ids of the last call, their sum and the pod's id. */
export type PodMemo = Map<string, { samples: CgroupSample[]; ids: string[]; sum: CgroupSample; id: string }>;

const collator = new Intl.Collator();

/** Groups pod containers into pod entries (sorted by namespace/name). */
export function podEntries(containers: Entry[], memo?: PodMemo): Entry[] {
  const groups = new Map<string, Entry[]>();
  for (const c of containers) {
    const p = c.meta?.pod;
    if (!p) continue;
    const key = `${p.namespace}/${p.name}/${p.uid}`;
    const g = groups.get(key);
    if (g) g.push(c);
    else groups.set(key, [c]);
  }
  const out: { sortKey: string; entry: Entry }[] = [];
  const next: PodMemo = new Map();
  for (const [key, members] of groups) {
    const p = members[0]!.meta!.pod!;
    const sandbox = members.find((m) => m.meta?.pod?.sandbox);
    const last = memo?.get(key);
    const same = last !== undefined && last.samples.length === members.length
      && members.every((m, i) => m.sample === last.samples[i] && m.id === last.ids[i]);
    const sum = same ? last.sum : sumSamples(members.map((m) => m.sample));
    const id = same ? last.id : podCgroupId(members, p.uid);
    if (memo) next.set(key, same ? last : { samples: members.map((m) => m.sample), ids: members.map((m) => m.id), sum, id });
    let time = 0;
    let startTime = Infinity;
    let oomEvents = 0;
    let rate: number | undefined = 0;
    for (const m of members) {
      time = Math.max(time, m.time);
      startTime = Math.min(startTime, m.startTime);
      oomEvents += m.oomEvents;
      rate = rate === undefined || m.usageNanoCores === undefined ? undefined : rate + m.usageNanoCores;
    }
    const entry: Entry = {
      id,
      kind: 'pod',
      pod: { name: p.name, namespace: p.namespace, uid: p.uid },
      sample: sum,
      network: sandbox?.network ?? members.find((m) => m.network.length > 0)?.network ?? [],
      oomEvents,
      time,
      startTime: sandbox?.startTime ?? startTime,
    };
    if (rate !== undefined) entry.usageNanoCores = rate;
    out.push({ sortKey: `${p.namespace}/${p.name}`, entry });
  }
  if (memo) {
    memo.clear();
    for (const [k, v] of next) memo.set(k, v);
  }
  return out.sort((a, b) => collator.compare(a.sortKey, b.sortKey)).map((x) => x.entry);
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
