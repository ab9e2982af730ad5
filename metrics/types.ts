// The collector's data model: one sample per cgroup, shaped after cAdvisor's info/v1 ContainerStats
// and ContainerSpec (the fields its Prometheus collector and the kubelet's summary provider read).
// All CPU times are nanoseconds, sizes bytes, times epoch milliseconds.

export interface CpuStats {
  /** cpuacct.usage (v1) / cpu.stat usage_usec × 1000 (v2). */
  totalNs: number;
  userNs: number;
  systemNs: number;
  /** CFS bandwidth counters; present when the cgroup exposes them. */
  periods?: number;
  throttledPeriods?: number;
  throttledNs?: number;
}

export interface MemoryStats {
  usage: number;
  maxUsage: number;
  /** usage − inactive_file, clamped at 0 (cAdvisor's working set). */
  workingSet: number;
  rss: number;
  cache: number;
  swap: number;
  mappedFile: number;
  failcnt: number;
  /** memory.stat pgfault / pgmajfault (scope="container"). */
  pgfault: number;
  pgmajfault: number;
  /** total_pgfault / total_pgmajfault on v1 (scope="hierarchy"); the same keys on v2. */
  hierPgfault: number;
  hierPgmajfault: number;
  activeFile: number;
  inactiveFile: number;
}

export interface BlkioDevice {
  major: number;
  minor: number;
  readBytes: number;
  writeBytes: number;
  reads: number;
  writes: number;
}

export interface ProcessStats {
  processes: number;
  threads: number;
  /** pids.max; 0 = unlimited. */
  threadsMax: number;
  fds: number;
  sockets: number;
}

export interface SpecStats {
  /** CFS quota in µs; 0 when unlimited. */
  cpuQuota: number;
  cpuPeriod: number;
  cpuShares: number;
  /** 0 when unlimited (> 2^62), as cAdvisor exports it. */
  memoryLimit: number;
  memorySwapLimit: number;
  memoryReservation: number;
}

export interface NetInterfaceStats {
  name: string;
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/** What a cgroup reader returns for one cgroup. */
export interface CgroupSample {
  cpu: CpuStats;
  memory: MemoryStats;
  blkio: BlkioDevice[];
  processes: ProcessStats;
  spec: SpecStats;
  /** The kernel's OOM-kill counter (v2 memory.events oom_kill, v1 memory.oom_control oom_kill), when exposed. */
  oomKills?: number;
  /** Pids in the cgroup (for fd counting); not exported. */
  pids: number[];
}

/** Who a container is, as its labels say. */
export interface ContainerMeta {
  /** Docker id (64 hex). */
  id: string;
  /** Docker name without the leading '/'. */
  name: string;
  /** docker inspect .Config.Image */
  image: string;
  /** docker inspect .Created, epoch ms. */
  createdAt: number;
  pid: number;
  /** cgroup path relative to the hierarchy root, e.g. /docker/<id>; cAdvisor's container name (label id). */
  cgroupPath: string;
  /** Network mode: 'container:<id>' and 'host' containers carry no network series. */
  networkMode: string;
  labels: Record<string, string>;
  /** Set for Kubernetes pod containers (io.kubernetes.* labels). */
  pod?: { name: string; namespace: string; uid: string; container: string; sandbox: boolean };
}

/** One container's (or pod's, or the node's) cached sample. */
export interface Entry {
  /** Label id: the cgroup path ('/' for the node). */
  id: string;
  kind: 'node' | 'pod' | 'container';
  meta?: ContainerMeta;
  /** For kind 'pod': namespace/name/uid. */
  pod?: { name: string; namespace: string; uid: string };
  sample: CgroupSample;
  network: NetInterfaceStats[];
  /** container_oom_events_total for this entry (persisted across restarts). */
  oomEvents: number;
  /** Epoch ms the sample was read. */
  time: number;
  /** Start time, epoch ms. */
  startTime: number;
  /** CPU usage rate in nanocores from the last two samples (undefined on the first). */
  usageNanoCores?: number;
}

export interface MachineInfo {
  cpuCores: number;
  physicalCores: number;
  sockets: number;
  memoryBytes: number;
  machineId: string;
  systemUuid: string;
  bootId: string;
  kernelVersion: string;
  osVersion: string;
  dockerVersion: string;
  /** Epoch ms of boot. */
  bootTime: number;
}

/** Filesystem facts for /stats/summary (root fs and Docker's image fs). */
export interface FsInfo {
  capacityBytes: number;
  availableBytes: number;
  usedBytes: number;
  inodes: number;
  inodesFree: number;
}

/** The cache every endpoint reads; replaced whole at each housekeeping. */
export interface Snapshot {
  time: number;
  node: Entry;
  pods: Entry[];
  containers: Entry[];
  machine: MachineInfo;
  rootFs?: FsInfo;
  imageFs?: FsInfo;
  /** Device names by "major:minor". */
  devices: Map<string, string>;
  /** Whether the last housekeeping failed (container_scrape_error). */
  scrapeError: boolean;
}
