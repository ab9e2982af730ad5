// A synthetic collector snapshot for formatter tests: a node, one pod (sandbox + one container) and
// one plain Docker container.
import { podEntries } from '../../../metrics/aggregate.js';
import type { CgroupSample, ContainerMeta, Entry, Snapshot } from '../../../metrics/types.js';

export const T = Date.UTC(2026, 11, 4, 12, 0, 0);

export function sample(cpuSec: number, mem: number, quota = 0): CgroupSample {
  return {
    cpu: { totalNs: cpuSec * 1e9, userNs: cpuSec * 0.8e9, systemNs: cpuSec * 0.2e9, periods: 10, throttledPeriods: 2, throttledNs: 5e8 },
    memory: {
      usage: mem, maxUsage: mem * 2, workingSet: mem / 2, rss: mem / 4, cache: mem / 2, swap: 0, mappedFile: 4096, failcnt: 0,
      pgfault: 10, pgmajfault: 1, hierPgfault: 11, hierPgmajfault: 2, activeFile: 0, inactiveFile: mem / 2,
    },
    blkio: [{ major: 8, minor: 0, readBytes: 4096, writeBytes: 8192, reads: 1, writes: 2 }],
    processes: { processes: 1, threads: 2, threadsMax: 0, fds: 5, sockets: 0 },
    spec: { cpuQuota: quota, cpuPeriod: 100_000, cpuShares: 1024, memoryLimit: 64 << 20, memorySwapLimit: 0, memoryReservation: 0 },
    pids: [1],
  };
}

function meta(id: string, name: string, labels: Record<string, string>, pod?: ContainerMeta['pod']): ContainerMeta {
  return { id, name, image: 'dockerlet/busybox:1.36', createdAt: T - 60_000, pid: 1, cgroupPath: `/docker/${id}`, networkMode: 'bridge', labels, ...(pod ? { pod } : {}) };
}

const net = (rx: number) => [{ name: 'eth0', rxBytes: rx, rxPackets: 10, rxErrors: 0, rxDropped: 0, txBytes: 100, txPackets: 1, txErrors: 0, txDropped: 0 }];

export function snapshot(): Snapshot {
  const pod = { name: 'web', namespace: 'default', uid: 'uid-1' };
  const containers: Entry[] = [
    {
      id: '/docker/s1', kind: 'container', time: T, startTime: T - 60_000, oomEvents: 0, usageNanoCores: 1000, network: net(5000),
      sample: sample(0.1, 1 << 20), meta: meta('s1', 'k8s_POD_web_default_uid-1_0', { 'io.kubernetes.pod.name': 'web' }, { ...pod, container: 'POD', sandbox: true }),
    },
    {
      id: '/docker/c1', kind: 'container', time: T, startTime: T - 50_000, oomEvents: 2, usageNanoCores: 500_000_000, network: [],
      sample: sample(30, 8 << 20, 50_000), meta: meta('c1', 'k8s_app_web_default_uid-1_0', { 'io.kubernetes.pod.name': 'web', 'quote"label': 'a"b' }, { ...pod, container: 'app', sandbox: false }),
    },
    {
      id: '/docker/d1', kind: 'container', time: T, startTime: T - 10_000, oomEvents: 0, network: net(42),
      sample: sample(1, 2 << 20), meta: meta('d1', 'plain', { 'com.example.tier': 'db' }),
    },
  ];
  const node: Entry = { id: '/', kind: 'node', time: T, startTime: T - 3_600_000, oomEvents: 0, usageNanoCores: 700_000_000, network: net(1 << 20), sample: sample(1000, 1 << 30) };
  return {
    time: T, node, pods: podEntries(containers), containers,
    machine: {
      cpuCores: 2, physicalCores: 2, sockets: 1, memoryBytes: 24 * 2 ** 30, machineId: 'm', systemUuid: 'u', bootId: 'b',
      kernelVersion: '6.18', osVersion: 'Debian 12', dockerVersion: '20.10.24', bootTime: T - 3_600_000,
    },
    rootFs: { capacityBytes: 100e9, availableBytes: 60e9, usedBytes: 40e9, inodes: 1e6, inodesFree: 9e5 },
    imageFs: { capacityBytes: 100e9, availableBytes: 60e9, usedBytes: 40e9, inodes: 1e6, inodesFree: 9e5 },
    devices: new Map([['8:0', '/dev/sda']]),
    scrapeError: false,
  };
}
