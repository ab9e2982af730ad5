// Facts about this host that go into Node.status: machine identity, capacity, the node IP, and the
// inputs of the eviction signals (memory.available, nodefs.available, pid.available).
import { readFile, statfs } from 'node:fs/promises';
import { arch as processArch, hostname as osHostname, networkInterfaces, release as osRelease } from 'node:os';
import si from 'systeminformation';

export interface PressureInputs {
  /** memory.available as the kernel reports it (MemAvailable), bytes. */
  memoryAvailableBytes: number;
  memoryTotalBytes: number;
  /** nodefs (the Docker root's filesystem): bytes available to unprivileged users, and its size. */
  nodefsAvailableBytes: number;
  nodefsCapacityBytes: number;
  /** Kernel scheduling entities in use (threads) and the limit min(pid_max, threads-max). */
  pidsInUse: number;
  pidMax: number;
}

export interface HostInfo {
  /** Lower-cased host name (the default node name and the Hostname address). */
  hostname: string;
  /** IPv4 of the default-route interface, when there is one. */
  internalIP?: string;
  cpuCount: number;
  memoryBytes: number;
  /** Size of the filesystem holding the Docker root (ephemeral-storage capacity). */
  ephemeralStorageBytes: number;
  osImage: string;
  kernelVersion: string;
  operatingSystem: 'linux';
  /** Kubernetes (GOARCH) naming: amd64, arm64, arm, 386, ppc64le, s390x, riscv64. */
  architecture: string;
  machineID: string;
  systemUUID: string;
  bootID: string;
  /** The runtime's version (e.g. Docker 20.10.24) when a runtime was given and answered. */
  runtimeVersion?: string;
  pressure: PressureInputs;
}

export interface HostInfoOptions {
  /** The path whose filesystem is nodefs; default /var/lib/docker when it exists, else /. */
  dockerRoot?: string;
  /** Root of the host filesystem for file reads (tests point it at a fixture tree); default ''. */
  hostRoot?: string;
}

const DEFAULT_DOCKER_ROOT = '/var/lib/docker';

/** Node's process.arch → Kubernetes/Go architecture names. */
export function kubeArch(nodeArch: string = processArch()): string {
  const m: Record<string, string> = {
    x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64',
    loong64: 'loong64', mips: 'mips', mipsel: 'mipsle',
  };
  return m[nodeArch] ?? nodeArch;
}

/** PRETTY_NAME from os-release text (quotes removed); "Linux" when absent. */
export function parseOsRelease(text: string): string {
  for (const line of text.split('\n')) {
    const m = /^PRETTY_NAME=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined) return m[1].replace(/^(["'])(.*)\1$/, '$2').trim() || 'Linux';
  }
  return 'Linux';
}

/** The total from /proc/loadavg's 4th field "running/total". */
export function parseLoadavgTasks(text: string): number | undefined {
  const m = /\s(\d+)\/(\d+)\s/.exec(` ${text} `);
  return m?.[2] === undefined ? undefined : Number(m[2]);
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function fsStats(path: string): Promise<{ capacity: number; available: number } | undefined> {
  try {
    const s = await statfs(path);
    return { capacity: s.blocks * s.bsize, available: s.bavail * s.bsize };
  } catch {
    return undefined;
  }
}

async function nodefsPath(opts: HostInfoOptions): Promise<string> {
  if (opts.dockerRoot) return opts.dockerRoot;
  return (await fsStats(DEFAULT_DOCKER_ROOT)) ? DEFAULT_DOCKER_ROOT : '/';
}

async function memory(): Promise<{ total: number; available: number }> {
  const m = await si.mem();
  return { total: m.total, available: m.available };
}

/** The cheap, frequently read part: memory, nodefs and pid usage. */
export async function readPressureInputs(opts: HostInfoOptions = {}): Promise<PressureInputs> {
  const root = opts.hostRoot ?? '';
  const [mem, fs, loadavg, pidMax, threadsMax] = await Promise.all([
    memory(),
    nodefsPath(opts).then(fsStats),
    readText(`${root}/proc/loadavg`),
    readText(`${root}/proc/sys/kernel/pid_max`),
    readText(`${root}/proc/sys/kernel/threads-max`),
  ]);
  const limits = [Number(pidMax), Number(threadsMax)].filter((n) => Number.isFinite(n) && n > 0);
  return {
    memoryAvailableBytes: mem.available,
    memoryTotalBytes: mem.total,
    nodefsAvailableBytes: fs?.available ?? 0,
    nodefsCapacityBytes: fs?.capacity ?? 0,
    pidsInUse: (loadavg && parseLoadavgTasks(loadavg)) || 0,
    pidMax: limits.length ? Math.min(...limits) : 32768,
  };
}

/**
 * The interface of the IPv4 default route with the lowest metric, from /proc/net/route (columns
 * Iface Destination Gateway Flags RefCnt Use Metric Mask …; destination and mask 00000000, flag RTF_UP).
 */
export function defaultRouteInterface(procNetRoute: string): string | undefined {
  let best: { iface: string; metric: number } | undefined;
  for (const line of procNetRoute.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000') continue;
    if ((Number.parseInt(f[3] ?? '0', 16) & 0x1) === 0) continue; // RTF_UP
    const metric = Number(f[6]);
    if (!best || metric < best.metric) best = { iface: f[0]!, metric };
  }
  return best?.iface;
}

/**
 * IPv4 of the interface carrying the default route, if any: /proc/net/route and os.networkInterfaces()
 * (systeminformation's networkInterfaces() runs a process per interface, which with hundreds of pod
 * veths blocked the event loop for tens of seconds at start).
 */
async function defaultRouteIPv4(): Promise<string | undefined> {
  // This process's network namespace (as os.networkInterfaces()), not hostRoot's.
  const routes = await readText('/proc/net/route');
  const iface = routes ? defaultRouteInterface(routes) : undefined;
  if (!iface) return undefined;
  return networkInterfaces()[iface]?.find((a) => a.family === 'IPv4' && !a.internal)?.address;
}

/**
 * Reads the host facts. Never throws for a missing identity file (the field is then ''); the runtime's
 * version is included when `runtime` answers.
 */
export async function readHostInfo(
  runtime?: { version(): Promise<{ version: string }> },
  opts: HostInfoOptions = {},
): Promise<HostInfo> {
  const root = opts.hostRoot ?? '';
  const [cpu, osRel, machineId, dbusMachineId, productUuid, bootId, ip, pressure, fs, rtVersion] = await Promise.all([
    si.cpu(),
    readText(`${root}/etc/os-release`).then(async (t) => t ?? (await readText(`${root}/usr/lib/os-release`))),
    readText(`${root}/etc/machine-id`),
    readText(`${root}/var/lib/dbus/machine-id`),
    readText(`${root}/sys/class/dmi/id/product_uuid`),
    readText(`${root}/proc/sys/kernel/random/boot_id`),
    defaultRouteIPv4(),
    readPressureInputs(opts),
    nodefsPath(opts).then(fsStats),
    runtime ? runtime.version().then((v) => v.version, () => undefined) : Promise.resolve(undefined),
  ]);
  const info: HostInfo = {
    hostname: osHostname().toLowerCase(),
    cpuCount: cpu.cores || 1,
    memoryBytes: pressure.memoryTotalBytes,
    ephemeralStorageBytes: fs?.capacity ?? 0,
    osImage: osRel ? parseOsRelease(osRel) : 'Linux',
    kernelVersion: osRelease(),
    operatingSystem: 'linux',
    architecture: kubeArch(),
    machineID: machineId || dbusMachineId || '',
    systemUUID: productUuid ?? '',
    bootID: bootId ?? '',
    pressure,
  };
  if (ip) info.internalIP = ip;
  if (rtVersion) info.runtimeVersion = rtVersion;
  return info;
}
