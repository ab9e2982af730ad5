// The Docker runtime's host side (what dockershim did on the node beside dockerd): files the containers
// bind (termination-message file, the generated /etc/hosts), Localhost seccomp profiles, what the daemon
// can grant a privileged container (capabilities, host devices), and the pod cgroups (limits, removal).
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync, type Dirent } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { GeneratedFile, Resources } from '../types.js';

/** Creates the host file (mode 0666, as the kubelet does) so Docker binds a file, not a new directory. */
export function ensureFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    closeSync(openSync(path, 'a'));
    chmodSync(path, 0o666);
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, `cannot create termination message file ${path}`, {
      cause: err,
      details: { path },
    });
  }
}

/** Writes a generated file (prefix + includeFile's contents + suffix), mode 0644, replaced atomically. */
export async function writeGeneratedFile(f: GeneratedFile): Promise<void> {
  // A few hundred bytes on local disk: synchronous calls, cheaper than four thread-pool round trips.
  try {
    const included = f.includeFile ? readFileSync(f.includeFile, 'utf8') : '';
    mkdirSync(dirname(f.hostPath), { recursive: true });
    const tmp = `${f.hostPath}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    writeFileSync(tmp, f.prefix + included + f.suffix, { mode: 0o644 });
    renameSync(tmp, f.hostPath);
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, `cannot write ${f.containerPath} for the container at ${f.hostPath}`, {
      cause: err,
      details: { path: f.hostPath },
    });
  }
}

/** A Localhost seccomp profile: the JSON file named by localhost/<path> (Docker takes the contents). */
export async function readSeccompProfile(profile: string): Promise<string> {
  const path = profile.slice('localhost/'.length);
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, `failed to load seccomp profile "${path}": ${(err as Error).message}`, {
      cause: err,
      details: { path },
    });
  }
}

/** Capability names by bit, as far as Docker 20.10 knows them (CAP_AUDIT_READ = 37 is its last). */
const CAP_NAMES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
] as const;

/**
 * When this process's bounding set lacks a capability runc would grant a privileged container (then
 * its start fails "unable to apply caps"), the capabilities it does hold; undefined when it holds all.
 */
export function privilegedCapabilities(statusText?: string): string[] | undefined {
  let text: string;
  try {
    text = statusText ?? readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const m = /^CapBnd:\s*([0-9a-f]+)$/im.exec(text);
  if (!m) return undefined;
  const bnd = BigInt('0x' + m[1]);
  const held = CAP_NAMES.filter((_, i) => ((bnd >> BigInt(i)) & 1n) === 1n);
  return held.length === CAP_NAMES.length ? undefined : [...held];
}

const unifiedAt = new Map<string, boolean>();

/** Whether `mount` holds the unified (v2) hierarchy; asked once per mount point. */
function isUnified(mount: string): boolean {
  let v2 = unifiedAt.get(mount);
  if (v2 === undefined) {
    v2 = existsSync(`${mount}/cgroup.controllers`);
    unifiedAt.set(mount, v2);
  }
  return v2;
}

/**
 * Writes a pod cgroup's limits (cgroupfs layout; the dirs exist once the sandbox runs under it): v1
 * cpu.shares / cpu.cfs_period_us / cpu.cfs_quota_us / memory.limit_in_bytes, or v2 cpu.weight / cpu.max /
 * memory.max (the kubelet's shares → weight conversion).
 * Small cgroupfs files: synchronous writes, no thread-pool round trip.
 */
export async function writePodCgroup(parent: string, r: Resources, mount = '/sys/fs/cgroup'): Promise<void> {
  if (isUnified(mount)) {
    const dir = `${mount}${parent}`;
    if (r.cpuShares !== undefined) writeFileSync(`${dir}/cpu.weight`, String(1 + Math.trunc(((r.cpuShares - 2) * 9999) / 262142)));
    if (r.cpuQuota !== undefined) writeFileSync(`${dir}/cpu.max`, `${r.cpuQuota > 0 ? r.cpuQuota : 'max'} ${r.cpuPeriod ?? 100000}`);
    if (r.memoryLimitBytes) writeFileSync(`${dir}/memory.max`, String(r.memoryLimitBytes));
    return;
  }
  const cpu = `${mount}/cpu${parent}`;
  if (r.cpuShares !== undefined) writeFileSync(`${cpu}/cpu.shares`, String(r.cpuShares));
  if (r.cpuQuota !== undefined) {
    writeFileSync(`${cpu}/cpu.cfs_period_us`, String(r.cpuPeriod ?? 100000));
    writeFileSync(`${cpu}/cpu.cfs_quota_us`, String(r.cpuQuota > 0 ? r.cpuQuota : -1));
  }
  if (r.memoryLimitBytes) writeFileSync(`${mount}/memory${parent}/memory.limit_in_bytes`, String(r.memoryLimitBytes));
}

/** Docker's devices.HostDevices: every char/block device under /dev but pts, shm, fd, mqueue, console. */
export function hostDevices(root = '/dev'): string[] {
  const skip = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev', 'console']);
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (skip.has(e.name)) continue;
      const p = `${dir}/${e.name}`;
      if (e.isDirectory() && depth < 4) walk(p, depth + 1);
      else if (e.isCharacterDevice() || e.isBlockDevice()) out.push(p);
    }
  };
  walk(root, 0);
  return out.sort();
}

const CAP_SYS_RESOURCE = 24n;

/** True when this process's effective capabilities include CAP_SYS_RESOURCE (true if unknown). */
export function hasCapSysResource(statusText?: string): boolean {
  try {
    const text = statusText ?? readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/im.exec(text);
    if (!m) return true;
    return ((BigInt('0x' + m[1]) >> CAP_SYS_RESOURCE) & 1n) === 1n;
  } catch {
    return true;
  }
}


/**
 * dockershim's rewriteResolvFile: on a user-defined Docker network Docker writes its embedded DNS
 * (nameserver 127.0.0.11) into the sandbox's resolv.conf; the kubelet's servers/searches/options go there
 * instead. Containers joined to the sandbox share that file.
 */
export async function rewriteResolvConf(path: string, dns: { servers: string[]; searches: string[]; options: string[] }): Promise<void> {
  const lines = dns.servers.map((s) => `nameserver ${s}`);
  if (dns.searches.length) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns.options.length) lines.push(`options ${dns.options.join(' ')}`);
  await writeFile(path, `${lines.join('\n')}\n`);
}
