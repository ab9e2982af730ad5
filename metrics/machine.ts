// Machine facts as cAdvisor's machine collector exports them (metrics/prometheus_machine.go:
// machine_cpu_cores = logical CPUs, machine_cpu_physical_cores, machine_cpu_sockets, machine_memory_bytes,
// labelled machine_id, system_uuid, boot_id), read once at start through systeminformation and os;
// filesystem capacity for /stats/summary through statfs (the kubelet's nodefs/imagefs).
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import si from 'systeminformation';
import type { FsInfo, MachineInfo } from './types.js';

function readTrim(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Reads the machine's facts; never throws (unknown facts are empty/zero). */
export async function readMachine(dockerVersion = ''): Promise<MachineInfo> {
  const [cpu, system, osInfo] = await Promise.all([
    si.cpu().catch(() => undefined),
    si.system().catch(() => undefined),
    si.osInfo().catch(() => undefined),
  ]);
  const uptimeMs = os.uptime() * 1000;
  return {
    cpuCores: os.cpus().length || cpu?.cores || 0,
    physicalCores: cpu?.physicalCores ?? 0,
    sockets: cpu?.processors ?? 0,
    memoryBytes: os.totalmem(),
    machineId: readTrim('/etc/machine-id'),
    systemUuid: system?.uuid ?? '',
    bootId: readTrim('/proc/sys/kernel/random/boot_id'),
    kernelVersion: os.release(),
    osVersion: osInfo ? `${osInfo.distro} ${osInfo.release}`.trim() : '',
    dockerVersion,
    bootTime: Math.floor((Date.now() - uptimeMs) / 1000) * 1000,
  };
}

/** Capacity and use of the filesystem holding `path`; undefined when it cannot be read. */
export async function readFs(path: string): Promise<FsInfo | undefined> {
  try {
    const s = await statfs(path);
    const capacityBytes = s.blocks * s.bsize;
    return {
      capacityBytes,
      availableBytes: s.bavail * s.bsize,
      usedBytes: (s.blocks - s.bfree) * s.bsize,
      inodes: s.files,
      inodesFree: s.ffree,
    };
  } catch {
    return undefined;
  }
}

/** Block device names by "major:minor" from /sys/dev/block/<maj:min>/uevent (DEVNAME), as /dev/<name>. */
export function deviceName(majMin: string, cache: Map<string, string>, sysRoot = '/sys'): string {
  let name = cache.get(majMin);
  if (name === undefined) {
    const m = readTrim(`${sysRoot}/dev/block/${majMin}/uevent`).match(/^DEVNAME=(.+)$/m);
    name = m ? `/dev/${m[1]}` : '';
    cache.set(majMin, name);
  }
  return name;
}
