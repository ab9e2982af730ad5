// One Docker Engine per bed node, inside the node's network namespace, as moby's "run multiple daemons"
// (docs/reference/dockerd.md): own --data-root, --exec-root (its own managed containerd), socket,
// pidfile, --cgroup-parent and an empty --config-file; --iptables inside the namespace only. Started
// with `nsenter --net` (not `ip netns exec`: that makes a mount namespace the agent could not see).
import { execFile } from 'node:child_process';
import { readFileSync, rmdirSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { waitFor } from './net.js';
import type { ProcessSet } from './procs.js';

const execFileP = promisify(execFile);

export interface DockerdPaths {
  dataRoot: string;
  execRoot: string;
  socket: string;
  pidfile: string;
  configFile: string;
  cgroupParent: string;
  log: string;
}

/** Where one node's daemon keeps things (pure). execRoot stays short: containerd's socket path lives under it. */
export function dockerdPaths(dir: string, runDir: string, cgroupParent: string): DockerdPaths {
  return {
    dataRoot: join(dir, 'docker'),
    execRoot: runDir,
    socket: join(runDir, 'docker.sock'),
    pidfile: join(runDir, 'docker.pid'),
    configFile: join(dir, 'daemon.json'),
    cgroupParent: `/${cgroupParent}`,
    log: join(dir, 'dockerd.log'),
  };
}

export function dockerdArgs(netns: string, p: DockerdPaths): string[] {
  return [
    `--net=/var/run/netns/${netns}`, '--', 'dockerd',
    `--data-root=${p.dataRoot}`, `--exec-root=${p.execRoot}`, `--pidfile=${p.pidfile}`,
    `--host=unix://${p.socket}`, `--config-file=${p.configFile}`, `--cgroup-parent=${p.cgroupParent}`,
    '--iptables=true', '--ip-masq=true', '--storage-driver=overlay2', '--log-level=warn',
  ];
}

/** Starts the daemon under the process set (name `dockerd-<node>`) and waits for /_ping. */
export async function startDockerd(procs: ProcessSet, node: string, netns: string, p: DockerdPaths, opts: { deadline: number; signal?: AbortSignal }): Promise<Dockerode> {
  await Promise.all([mkdir(p.dataRoot, { recursive: true }), mkdir(p.execRoot, { recursive: true })]);
  await writeFile(p.configFile, '{}\n');
  procs.spawn(`dockerd-${node}`, 'nsenter', dockerdArgs(netns, p), p.log);
  const docker = new Dockerode({ socketPath: p.socket });
  await waitFor(`dockerd of ${node} (${p.socket})`, async () => {
    await docker.ping();
    return true;
  }, { deadline: opts.deadline, ...(opts.signal ? { signal: opts.signal } : {}), intervalMs: 250, abortIf: () => procs.deadReason() });
  return docker;
}

/** `docker save` of images from the host daemon into a tar (once per bed). */
export async function saveImages(images: string[], tar: string): Promise<void> {
  try {
    await execFileP('docker', ['save', '-o', tar, ...images], { timeout: 180_000 });
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONTROL_PLANE, `docker save ${images.join(' ')}: ${errorMessage(err)} (run scripts/setup-host.sh?)`, { cause: err });
  }
}

/** `docker load` into a node's daemon. */
export async function loadImages(socket: string, tar: string): Promise<void> {
  try {
    await execFileP('docker', ['-H', `unix://${socket}`, 'load', '-q', '-i', tar], { timeout: 180_000 });
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONTROL_PLANE, `docker load into ${socket}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Lazily unmounts every mount under one of the prefixes (leftovers of a killed daemon), deepest first. */
export async function unmountUnder(prefixes: string[]): Promise<void> {
  let mounts: string[];
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '));
  } catch {
    return;
  }
  const ours = mounts.filter((m) => prefixes.some((p) => m === p || m.startsWith(`${p}/`))).sort((a, b) => b.length - a.length);
  for (const m of ours) await execFileP('umount', ['-l', m], { timeout: 15_000 }).catch(() => undefined);
}

/** Removes a daemon's directories and its (empty) cgroup directories; best effort. */
export async function removeDockerdState(p: DockerdPaths, dir: string): Promise<void> {
  await unmountUnder([p.execRoot, dir]);
  await rm(p.execRoot, { recursive: true, force: true }).catch(() => undefined);
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  removeCgroupDirs(p.cgroupParent);
}

/** rmdir /sys/fs/cgroup/<controller>/<parent>/** (children first); non-empty ones stay. */
export function removeCgroupDirs(parent: string): void {
  let ctrls: string[];
  try {
    ctrls = readdirSync('/sys/fs/cgroup');
  } catch {
    return;
  }
  const rmTree = (d: string) => {
    let kids: string[];
    try {
      kids = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const k of kids) rmTree(join(d, k));
    try {
      rmdirSync(d);
    } catch {
      /* busy or gone */
    }
  };
  for (const c of ctrls) rmTree(join('/sys/fs/cgroup', c, parent));
}
