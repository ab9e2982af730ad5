// Reads one cgroup's stats the way cAdvisor gets them through runc's libcontainer: v1 from
// cpuacct/cpu/memory/blkio/pids files (fs/*.go), v2 from cpu.stat, memory.*, io.stat, pids.* (fs2/*.go);
// then maps them like cAdvisor's setCPUStats/setMemoryStats/setDiskIoStats/setThreadsStats
// (container/libcontainer/handler.go). Missing files give zeros, never an exception: a cgroup that
// vanished mid-read is reported by the caller through `exists`.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BlkioDevice, CgroupSample, MemoryStats, ProcessStats, SpecStats } from '../types.js';
import { readSmall, type OpenFiles } from './files.js';
import { cgroupDir, type CgroupLayout } from './layout.js';

export { readSmall };
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
  /** Keeps the cgroup's files open between reads (owner: the cgroup path). */
  files?: OpenFiles;
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

/** Reads one file of the cgroup: through the open-file cache when the caller keeps one. */
type Read = (path: string | undefined) => string | undefined;

function reader(opts: ReaderOptions, owner: string): Read {
  const files = opts.files;
  return files ? (p) => (p === undefined ? undefined : files.text(owner, p)) : (p) => (p === undefined ? undefined : readSmall(p));
}

const num = (t: string | undefined): number => {
  const v = parseSingle(t);
  return v === undefined || !Number.isFinite(v) ? 0 : v;
};

function countFds(procRoot: string, pids: number[]): number {
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
export function readCpuTotal(layout: CgroupLayout, path: string, files?: OpenFiles): number | undefined {
  if (layout.version === 2) {
    const file = `${cgroupDir(layout, '', path)}/cpu.stat`;
    const t = files ? files.text(path, file) : readSmall(file);
    return t === undefined ? undefined : (parseFlatKeyed(t).get('usage_usec') ?? 0) * 1000;
  }
  const dir = cgroupDir(layout, 'cpuacct', path);
  if (dir === undefined) return undefined;
  const file = `${dir}/cpuacct.usage`;
  if (files) {
    const v = files.number(path, file);
    return v === undefined && files.text(path, file) === undefined ? undefined : v ?? 0;
  }
  const t = readSmall(file);
  return t === undefined ? undefined : num(t);
}

/**
 * The cgroup's memory usage (v1 memory.usage_in_bytes, v2 memory.current) from one file, or undefined:
 * with the CPU time, the collector's check whether an idle container's last read still holds (memory
 * moves without the container running: per-CPU charge caches drain, reclaim, page cache).
 */
export function readMemoryUsage(layout: CgroupLayout, path: string, files?: OpenFiles): number | undefined {
  const dir = cgroupDir(layout, layout.version === 2 ? '' : 'memory', path);
  if (dir === undefined) return undefined;
  const file = layout.version === 2 ? `${dir}/memory.current` : `${dir}/memory.usage_in_bytes`;
  return files ? files.number(path, file) : parseSingle(readSmall(file));
}

/**
 * The cgroup's memory.stat bytes: `last` itself while unchanged, a fresh copy when they changed,
 * undefined when unreadable. Reclaim moves pages between LRU lists, unmaps and swaps them out
 * without the container running: the working set, mapped_file and swap change with no CPU time.
 */
export function readMemoryStatBytes(layout: CgroupLayout, path: string, files: OpenFiles | undefined, last: Buffer | undefined): Buffer | undefined {
  const dir = cgroupDir(layout, layout.version === 2 ? '' : 'memory', path);
  if (dir === undefined) return undefined;
  const file = `${dir}/memory.stat`;
  if (files) return files.bytes(path, file, last);
  const t = readSmall(file);
  if (t === undefined) return undefined;
  const b = Buffer.from(t);
  return last?.equals(b) ? last : b;
}

/**
 * What can move in a cgroup where nothing ran: memory (reclaim, per-CPU charge caches draining) and
 * block I/O (writeback of its dirty pages), or undefined when unreadable or for the v2 root. The
 * collector re-reads only these for an idle container whose memory moved.
 */
export function readIdleMovedSync(layout: CgroupLayout, path: string, files?: OpenFiles): Pick<CgroupSample, 'memory' | 'blkio'> | undefined {
  const text = reader(files ? { files } : {}, path);
  if (layout.version === 2) {
    if (path === '/' || path === '') return undefined;
    const dir = cgroupDir(layout, '', path)!;
    const f = (name: string) => text(`${dir}/${name}`);
    const m = memoryV2(f);
    return m.complete ? { memory: m.memory, blkio: parseIoStat(f('io.stat') ?? '') } : undefined;
  }
  const m = memoryV1(text, (name) => { const dir = cgroupDir(layout, 'memory', path); return dir && `${dir}/${name}`; });
  if (!m.complete) return undefined;
  const blkioDir = cgroupDir(layout, 'blkio', path);
  return { memory: m.memory, blkio: blkioDir === undefined ? [] : blkioV1(text, (name) => `${blkioDir}/${name}`) };
}

/** Whether the cgroup still exists (its memory or unified directory). */
export async function cgroupExists(layout: CgroupLayout, path: string): Promise<boolean> {
  return cgroupExistsSync(layout, path);
}

export function cgroupExistsSync(layout: CgroupLayout, path: string): boolean {
  const dir = cgroupDir(layout, layout.version === 2 ? '' : 'memory', path) ?? cgroupDir(layout, 'cpu', path);
  return dir !== undefined && readSmall(join(dir, 'cgroup.procs')) !== undefined;
}

/** Reads one cgroup (path relative to the hierarchy root, '/' for the root cgroup). */
export async function readCgroup(layout: CgroupLayout, path: string, opts: ReaderOptions = {}): Promise<CgroupSample> {
  return readCgroupSync(layout, path, opts);
}

/**
 * readCgroup without a promise: interface files never block, so the collector reads a whole pass
 * synchronously (no promise per file, far less garbage per pass).
 */
export function readCgroupSync(layout: CgroupLayout, path: string, opts: ReaderOptions = {}): CgroupSample {
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

/** Non-empty lines (one pid per line in cgroup.procs). */
function countLines(text: string): number {
  let n = 0;
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl;
    if (end > start) n++;
    if (nl < 0) return n;
    start = nl + 1;
  }
}

function processes(procsText: string | undefined, pidsCurrent: string | undefined, pidsMax: string | undefined,
  opts: ReaderOptions): { stats: ProcessStats; pids: number[] } {
  // Without fd counting only the number of pids is needed: count lines (the root cgroup lists every
  // host process directly in it; no array of thousands of strings per pass).
  const pids = opts.countFds ? parsePids(procsText ?? '') : [];
  const count = opts.countFds ? pids.length : countLines(procsText ?? '');
  const fds = opts.countFds ? countFds(opts.procRoot ?? '/proc', pids) : 0;
  return {
    pids,
    stats: { processes: count, threads: num(pidsCurrent), threadsMax: limitValue(parseSingle(pidsMax)), fds, sockets: 0 },
  };
}

/** v1 memory counters; complete: usage and memory.stat were readable. */
function memoryV1(text: Read, file: (name: string) => string | undefined): { memory: MemoryStats; complete: boolean } {
  const usage = text(file('memory.usage_in_bytes'));
  const statText = text(file('memory.stat'));
  const memStat = parseFlatKeyed(statText ?? '');
  const u = num(usage);
  const memsw = text(file('memory.memsw.usage_in_bytes'));
  const swap = memsw !== undefined ? Math.max(0, num(memsw) - u) : memStat.get('total_swap') ?? 0;
  const memory = memoryFrom(memStat, u, num(text(file('memory.max_usage_in_bytes'))), swap, num(text(file('memory.failcnt'))), true);
  return { memory, complete: usage !== undefined && statText !== undefined };
}

/**
 * v2 memory counters; complete: memory.current and memory.stat were readable. The root cgroup has no
 * memory.current: with meminfo, runc's rootStatsFromMeminfo (MemTotal − MemFree) stands in.
 */
function memoryV2(f: (name: string) => string | undefined, meminfo?: string): { memory: MemoryStats; complete: boolean } {
  const current = f('memory.current');
  const statText = f('memory.stat');
  const memStat = parseFlatKeyed(statText ?? '');
  let usage = num(current);
  if (current === undefined && meminfo) {
    const mi = parseMeminfo(meminfo);
    usage = (mi.get('MemTotal') ?? 0) - (mi.get('MemFree') ?? 0);
    if (!memStat.has('inactive_file')) memStat.set('inactive_file', mi.get('Inactive(file)') ?? 0);
  }
  const memory = memoryFrom(memStat, usage, num(f('memory.peak')), num(f('memory.swap.current')), 0, false);
  return { memory, complete: current !== undefined && statText !== undefined };
}

/** runc prefers the BFQ scheduler's recursive files when they carry device lines, else the throttle ones. */
function blkioV1(text: Read, file: (name: string) => string | undefined): BlkioDevice[] {
  const bfqBytes = text(file('blkio.bfq.io_service_bytes_recursive'));
  const bfqOps = bfqBytes === undefined ? undefined : text(file('blkio.bfq.io_serviced_recursive'));
  const bfq = parseBlkioV1(bfqBytes ?? '', bfqOps ?? '');
  return bfq.length > 0 ? bfq : parseBlkioV1(
    text(file('blkio.throttle.io_service_bytes_recursive')) ?? '', text(file('blkio.throttle.io_serviced_recursive')) ?? '');
}

function readV1(layout: Extract<CgroupLayout, { version: 1 }>, path: string, opts: ReaderOptions): CgroupSample {
  const d = (c: string, f: string) => { const dir = cgroupDir(layout, c, path); return dir && `${dir}/${f}`; };
  const text = reader(opts, path);
  const lim = opts.limits;
  // Limit files are read rarely (see Limits): not kept open.
  const limit = (p: string | undefined) => (lim || p === undefined ? undefined : readSmall(p));
  const usage = text(d('cpuacct', 'cpuacct.usage'));
  const acctStat = text(d('cpuacct', 'cpuacct.stat'));
  const cpuStat = text(d('cpu', 'cpu.stat'));
  const quota = limit(d('cpu', 'cpu.cfs_quota_us'));
  const period = limit(d('cpu', 'cpu.cfs_period_us'));
  const shares = limit(d('cpu', 'cpu.shares'));
  const memLimit = limit(d('memory', 'memory.limit_in_bytes'));
  const memswLimit = limit(d('memory', 'memory.memsw.limit_in_bytes'));
  const memSoft = limit(d('memory', 'memory.soft_limit_in_bytes'));
  const oomControl = text(d('memory', 'memory.oom_control'));
  const blkio = blkioV1(text, (f) => d('blkio', f));
  const pidsCur = text(d('pids', 'pids.current'));
  const pidsMax = limit(d('pids', 'pids.max'));
  const procs = text(d('pids', 'cgroup.procs')) ?? text(d('cpu', 'cgroup.procs'));
  const acct = parseFlatKeyed(acctStat ?? '');
  const cs = parseFlatKeyed(cpuStat ?? '');
  const q = parseSingle(quota);
  const oom = parseFlatKeyed(oomControl ?? '').get('oom_kill');
  const { stats: proc, pids } = processes(procs, pidsCur, pidsMax, opts);
  return {
    cpu: {
      totalNs: num(usage),
      userNs: (acct.get('user') ?? 0) * NS_PER_TICK,
      systemNs: (acct.get('system') ?? 0) * NS_PER_TICK,
      ...(cs.has('nr_periods') ? {
        periods: cs.get('nr_periods')!, throttledPeriods: cs.get('nr_throttled') ?? 0, throttledNs: cs.get('throttled_time') ?? 0,
      } : {}),
    },
    memory: memoryV1(text, (f) => d('memory', f)).memory,
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

function readV2(root: string, path: string, opts: ReaderOptions): CgroupSample {
  const dir = cgroupDir({ version: 2, root }, '', path)!;
  const text = reader(opts, path);
  const f = (name: string) => text(`${dir}/${name}`);
  const lim = opts.limits;
  const limit = (name: string) => (lim ? undefined : readSmall(`${dir}/${name}`));
  const isRoot = path === '/' || path === '';
  const cpuStat = f('cpu.stat');
  const cpuMax = limit('cpu.max');
  const cpuWeight = limit('cpu.weight');
  const memMax = limit('memory.max');
  const swapMax = limit('memory.swap.max');
  const memMin = limit('memory.min');
  const events = f('memory.events');
  const ioStat = f('io.stat');
  const pidsCur = f('pids.current');
  const pidsMax = limit('pids.max');
  const procs = f('cgroup.procs');
  const meminfo = isRoot ? text(join(opts.procRoot ?? '/proc', 'meminfo')) : undefined;
  const cs = parseFlatKeyed(cpuStat ?? '');
  const { quota, period } = parseCpuMax(cpuMax);
  const oom = parseFlatKeyed(events ?? '').get('oom_kill');
  const { stats: proc, pids } = processes(procs, pidsCur, pidsMax, opts);
  return {
    cpu: {
      totalNs: (cs.get('usage_usec') ?? 0) * 1000,
      userNs: (cs.get('user_usec') ?? 0) * 1000,
      systemNs: (cs.get('system_usec') ?? 0) * 1000,
      ...(cs.has('nr_periods') ? {
        periods: cs.get('nr_periods')!, throttledPeriods: cs.get('nr_throttled') ?? 0, throttledNs: (cs.get('throttled_usec') ?? 0) * 1000,
      } : {}),
    },
    memory: memoryV2(f, meminfo).memory,
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
