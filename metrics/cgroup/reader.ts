// Reads one cgroup's stats the way cAdvisor gets them through runc's libcontainer: v1 from
// cpuacct/cpu/memory/blkio/pids files (fs/*.go), v2 from cpu.stat, memory.*, io.stat, pids.* (fs2/*.go);
// then maps them like cAdvisor's setCPUStats/setMemoryStats/setDiskIoStats/setThreadsStats
// (container/libcontainer/handler.go). Missing files give zeros, never an exception: a cgroup that
// vanished mid-read is reported by the caller through `exists`.
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupSample, MemoryStats, ProcessStats, SpecStats } from '../types.js';
import { cgroupDir, type CgroupLayout } from './layout.js';
import {
  limitValue, parseBlkioV1, parseCpuMax, parseFlatKeyed, parseIoStat, parseMeminfo, parsePids, parseSingle, weightToShares,
} from './parse.js';

/** USER_HZ: cpuacct.stat counts in 1/100 s. */
const NS_PER_TICK = 1e9 / 100;

export interface ReaderOptions {
  /** procfs root ('/proc'); a fixture tree in tests. */
  procRoot?: string;
  /** Count open file descriptors of the cgroup's pids (cAdvisor's process metric set). */
  countFds?: boolean;
  /**
   * The cgroup's limits from an earlier read: when given, the limit files (CPU quota/period/shares or
   * weight, memory limits, pids.max) are not read again. They change only on `docker update`.
   */
  limits?: Limits;
}

/** The parts of a sample that only a `docker update` changes. */
export interface Limits {
  spec: SpecStats;
  threadsMax: number;
}

/** A sample's limits, to pass back as ReaderOptions.limits. */
export function limitsOf(s: CgroupSample): Limits {
  return { spec: s.spec, threadsMax: s.processes.threadsMax };
}

// Kernel interface files are small and never block: read them synchronously into one shared buffer
// (open + read + close). fs.promises.readFile costs ~80 µs of CPU per file in promise and thread-pool
// overhead, which made housekeeping of 100 containers several times dearer than cAdvisor's.
const BUF = Buffer.allocUnsafe(64 * 1024);

export function readSmall(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    let len = 0;
    for (;;) {
      const want = BUF.length - len;
      const n = readSync(fd, BUF, len, want, null);
      if (n <= 0) break;
      len += n;
      // A short read is the end: seq_file (cgroupfs, procfs) fills the whole buffer while records
      // remain, so this spares the extra read() that would return 0 (a third of the syscalls).
      if (n < want || len === BUF.length) break; // (full buffer: larger than any interface file read here)
    }
    return BUF.toString('utf8', 0, len);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function text(path: string | undefined): Promise<string | undefined> {
  return Promise.resolve(path === undefined ? undefined : readSmall(path));
}

const num = (t: string | undefined): number => {
  const v = parseSingle(t);
  return v === undefined || !Number.isFinite(v) ? 0 : v;
};

async function countFds(procRoot: string, pids: number[]): Promise<number> {
  let n = 0;
  for (const pid of pids) {
    try {
      n += readdirSync(join(procRoot, String(pid), 'fd')).length;
    } catch { /* the process exited */ }
  }
  return n;
}

/**
 * The cgroup's cumulative CPU time (ns) from one file, or undefined when the cgroup is gone: the
 * collector's cheap check whether anything ran since the last full read (cAdvisor's dynamic
 * housekeeping skips unchanged containers the same way).
 */
export function readCpuTotal(layout: CgroupLayout, path: string): number | undefined {
  if (layout.version === 2) {
    const t = readSmall(`${cgroupDir(layout, '', path)}/cpu.stat`);
    return t === undefined ? undefined : (parseFlatKeyed(t).get('usage_usec') ?? 0) * 1000;
  }
  const dir = cgroupDir(layout, 'cpuacct', path);
  const t = dir === undefined ? undefined : readSmall(`${dir}/cpuacct.usage`);
  return t === undefined ? undefined : num(t);
}

/** Whether the cgroup still exists (its memory or unified directory). */
export async function cgroupExists(layout: CgroupLayout, path: string): Promise<boolean> {
  const dir = cgroupDir(layout, layout.version === 2 ? '' : 'memory', path) ?? cgroupDir(layout, 'cpu', path);
  return (await text(dir && join(dir, 'cgroup.procs'))) !== undefined;
}

/** Reads one cgroup (path relative to the hierarchy root, '/' for the root cgroup). */
export async function readCgroup(layout: CgroupLayout, path: string, opts: ReaderOptions = {}): Promise<CgroupSample> {
  return layout.version === 2 ? readV2(layout.root, path, opts) : readV1(layout, path, opts);
}

function memoryFrom(stat: Map<string, number>, usage: number, maxUsage: number, swap: number, failcnt: number, v1: boolean): MemoryStats {
  const k = (name: string) => stat.get(v1 ? `total_${name}` : name) ?? stat.get(name) ?? 0;
  const inactiveFile = k('inactive_file');
  return {
    usage, maxUsage, swap, failcnt,
    workingSet: usage < inactiveFile ? 0 : usage - inactiveFile,
    rss: v1 ? k('rss') : stat.get('anon') ?? 0,
    cache: v1 ? k('cache') : stat.get('file') ?? 0,
    mappedFile: v1 ? k('mapped_file') : stat.get('file_mapped') ?? 0,
    pgfault: stat.get('pgfault') ?? 0,
    pgmajfault: stat.get('pgmajfault') ?? 0,
    hierPgfault: k('pgfault'),
    hierPgmajfault: k('pgmajfault'),
    activeFile: k('active_file'),
    inactiveFile,
  };
}

async function processes(procsText: string | undefined, pidsCurrent: string | undefined, pidsMax: string | undefined,
  opts: ReaderOptions): Promise<{ stats: ProcessStats; pids: number[] }> {
  const pids = parsePids(procsText ?? '');
  const fds = opts.countFds ? await countFds(opts.procRoot ?? '/proc', pids) : 0;
  return {
    pids,
    stats: { processes: pids.length, threads: num(pidsCurrent), threadsMax: limitValue(parseSingle(pidsMax)), fds, sockets: 0 },
  };
}

async function readV1(layout: Extract<CgroupLayout, { version: 1 }>, path: string, opts: ReaderOptions): Promise<CgroupSample> {
  const d = (c: string, f: string) => { const dir = cgroupDir(layout, c, path); return dir && `${dir}/${f}`; };
  const lim = opts.limits;
  const limit = (p: string | undefined) => (lim ? Promise.resolve(undefined) : text(p));
  const [
    usage, acctStat, cpuStat, quota, period, shares,
    memUsage, memMax, memFailcnt, memStatText, memLimit, memswLimit, memSoft, memswUsage, oomControl,
    bfqBytes, bfqOps, pidsCur, pidsMax, procs,
  ] = await Promise.all([
    text(d('cpuacct', 'cpuacct.usage')), text(d('cpuacct', 'cpuacct.stat')), text(d('cpu', 'cpu.stat')),
    limit(d('cpu', 'cpu.cfs_quota_us')), limit(d('cpu', 'cpu.cfs_period_us')), limit(d('cpu', 'cpu.shares')),
    text(d('memory', 'memory.usage_in_bytes')), text(d('memory', 'memory.max_usage_in_bytes')),
    text(d('memory', 'memory.failcnt')), text(d('memory', 'memory.stat')), limit(d('memory', 'memory.limit_in_bytes')),
    limit(d('memory', 'memory.memsw.limit_in_bytes')), limit(d('memory', 'memory.soft_limit_in_bytes')),
    text(d('memory', 'memory.memsw.usage_in_bytes')), text(d('memory', 'memory.oom_control')),
    text(d('blkio', 'blkio.bfq.io_service_bytes_recursive')), text(d('blkio', 'blkio.bfq.io_serviced_recursive')),
    text(d('pids', 'pids.current')), limit(d('pids', 'pids.max')),
    text(d('pids', 'cgroup.procs')).then((t) => t ?? text(d('cpu', 'cgroup.procs'))),
  ]);
  const acct = parseFlatKeyed(acctStat ?? '');
  const cs = parseFlatKeyed(cpuStat ?? '');
  const q = parseSingle(quota);
  const memStat = parseFlatKeyed(memStatText ?? '');
  const u = num(memUsage);
  const swap = memswUsage !== undefined ? Math.max(0, num(memswUsage) - u) : memStat.get('total_swap') ?? 0;
  const oom = parseFlatKeyed(oomControl ?? '').get('oom_kill');
  // runc prefers the BFQ scheduler's recursive files when they carry device lines, else the throttle ones.
  const bfq = parseBlkioV1(bfqBytes ?? '', bfqOps ?? '');
  const blkio = bfq.length > 0 ? bfq : parseBlkioV1(
    (await text(d('blkio', 'blkio.throttle.io_service_bytes_recursive'))) ?? '', (await text(d('blkio', 'blkio.throttle.io_serviced_recursive'))) ?? '');
  const { stats: proc, pids } = await processes(procs, pidsCur, pidsMax, opts);
  return {
    cpu: {
      totalNs: num(usage),
      userNs: (acct.get('user') ?? 0) * NS_PER_TICK,
      systemNs: (acct.get('system') ?? 0) * NS_PER_TICK,
      ...(cs.has('nr_periods') ? {
        periods: cs.get('nr_periods')!, throttledPeriods: cs.get('nr_throttled') ?? 0, throttledNs: cs.get('throttled_time') ?? 0,
      } : {}),
    },
    memory: memoryFrom(memStat, u, num(memMax), swap, num(memFailcnt), true),
    blkio,
    processes: lim ? { ...proc, threadsMax: lim.threadsMax } : proc,
    spec: lim ? lim.spec : {
      cpuQuota: q !== undefined && Number.isFinite(q) && q > 0 ? q : 0,
      cpuPeriod: num(period),
      cpuShares: num(shares),
      memoryLimit: limitValue(parseSingle(memLimit)),
      memorySwapLimit: limitValue(parseSingle(memswLimit)),
      memoryReservation: limitValue(parseSingle(memSoft)),
    },
    ...(oom !== undefined ? { oomKills: oom } : {}),
    pids,
  };
}

async function readV2(root: string, path: string, opts: ReaderOptions): Promise<CgroupSample> {
  const dir = cgroupDir({ version: 2, root }, '', path)!;
  const f = (name: string) => text(`${dir}/${name}`);
  const lim = opts.limits;
  const limit = (name: string) => (lim ? Promise.resolve(undefined) : f(name));
  const isRoot = path === '/' || path === '';
  const [cpuStat, cpuMax, cpuWeight, current, peak, memStatText, swapCur, memMax, swapMax, memMin, events, ioStat, pidsCur, pidsMax, procs, meminfo] =
    await Promise.all([
      f('cpu.stat'), limit('cpu.max'), limit('cpu.weight'), f('memory.current'), f('memory.peak'), f('memory.stat'),
      f('memory.swap.current'), limit('memory.max'), limit('memory.swap.max'), limit('memory.min'), f('memory.events'),
      f('io.stat'), f('pids.current'), limit('pids.max'), f('cgroup.procs'),
      isRoot ? text(join(opts.procRoot ?? '/proc', 'meminfo')) : Promise.resolve(undefined),
    ]);
  const cs = parseFlatKeyed(cpuStat ?? '');
  const { quota, period } = parseCpuMax(cpuMax);
  const memStat = parseFlatKeyed(memStatText ?? '');
  let usage = num(current);
  if (isRoot && current === undefined && meminfo) {
    // The root cgroup has no memory.current: runc's rootStatsFromMeminfo uses MemTotal − MemFree.
    const mi = parseMeminfo(meminfo);
    usage = (mi.get('MemTotal') ?? 0) - (mi.get('MemFree') ?? 0);
    if (!memStat.has('inactive_file')) memStat.set('inactive_file', mi.get('Inactive(file)') ?? 0);
  }
  const oom = parseFlatKeyed(events ?? '').get('oom_kill');
  const { stats: proc, pids } = await processes(procs, pidsCur, pidsMax, opts);
  return {
    cpu: {
      totalNs: (cs.get('usage_usec') ?? 0) * 1000,
      userNs: (cs.get('user_usec') ?? 0) * 1000,
      systemNs: (cs.get('system_usec') ?? 0) * 1000,
      ...(cs.has('nr_periods') ? {
        periods: cs.get('nr_periods')!, throttledPeriods: cs.get('nr_throttled') ?? 0, throttledNs: (cs.get('throttled_usec') ?? 0) * 1000,
      } : {}),
    },
    memory: memoryFrom(memStat, usage, num(peak), num(swapCur), 0, false),
    blkio: parseIoStat(ioStat ?? ''),
    processes: lim ? { ...proc, threadsMax: lim.threadsMax } : proc,
    spec: lim ? lim.spec : {
      cpuQuota: quota,
      cpuPeriod: cpuMax === undefined ? 0 : period,
      cpuShares: cpuWeight === undefined ? 0 : weightToShares(num(cpuWeight)),
      memoryLimit: limitValue(parseSingle(memMax)),
      memorySwapLimit: limitValue(parseSingle(swapMax)),
      memoryReservation: limitValue(parseSingle(memMin)),
    },
    ...(oom !== undefined ? { oomKills: oom } : {}),
    pids,
  };
}
