// What the collector is built from (the Docker client, clock, logger) and its knobs, and the facts of
// the host that decide how it reads: cAdvisor's housekeeping flags and its kept-open kernel files.
import { statfsSync } from 'node:fs';
import type Dockerode from 'dockerode';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { CgroupLayout } from './cgroup/layout.js';
import { readSmall } from './cgroup/reader.js';

export interface CollectorOptions {
  /** Housekeeping interval, ms (default 10 000). */
  housekeepingMs?: number;
  /** Only Kubernetes pod containers (the kubelet's view); false for a plain Docker host. */
  podsOnly?: boolean;
  nodeName?: string;
  /** Where OOM counts persist across restarts; undefined keeps them in memory. */
  stateDir?: string;
  /** Count open fds per container (cAdvisor's process set); default true. */
  countFds?: boolean;
  procRoot?: string;
  cgroupRoot?: string;
  /** Overrides detection (tests). */
  layout?: CgroupLayout;
  /**
   * A container whose CPU time, memory usage and memory.stat did not move since its last full read
   * reuses that read for up to this long (ms, default 300 000); 0 reads everything every pass. Nothing
   * else a full read gives moves without one of those: CPU and throttling counters, pids, fds, OOM
   * kills and (v1) block I/O need the container to run; max usage and swap show in usage and memory.stat.
   */
  idleReuseMs?: number;
  /**
   * Kernel files kept open between passes (default: a quarter of RLIMIT_NOFILE's soft limit, at most
   * 16384); 0 opens and closes every file per read.
   * Only on the kernel's own filesystems (cgroupfs, cgroup2, procfs), where a removed cgroup's open
   * file answers ENODEV: a fixture tree of regular files would keep answering after an rm.
   */
  maxOpenFiles?: number;
}

export interface CollectorDeps {
  docker: Dockerode;
  clock?: Clock;
  log?: Logger;
}

/** A quarter of this process's open-file limit (/proc/self/limits), between 256 and 16384. */
export function defaultMaxOpen(): number {
  const m = /^Max open files\s+(\d+)/m.exec(readSmall('/proc/self/limits') ?? '');
  const soft = m ? Number(m[1]) : 1024;
  return Math.max(256, Math.min(16_384, Math.floor(soft / 4)));
}

/** statfs f_type of cgroupfs (v1), cgroup2 and procfs (linux/magic.h). */
const KERNEL_FS = new Set([0x27e0eb, 0x63677270, 0x9fa0]);

/** Whether the cgroup hierarchy and procRoot are the kernel's (not a fixture tree). */
export function onKernelFs(layout: CgroupLayout, procRoot: string): boolean {
  const dirs = [layout.version === 2 ? layout.root : layout.mounts.cpuacct ?? layout.mounts.cpu, procRoot];
  try {
    return dirs.every((d) => d !== undefined && KERNEL_FS.has(statfsSync(d).type));
  } catch {
    return false;
  }
}
