// A multi-node cluster on one machine (issue 21): the control plane on the host (harness.ts) with
// --allocate-node-cidrs, and per node a network namespace on a shared bridge (lan.ts), its own dockerd
// (dockerd.ts) and its own dockerlet (agent + proxy) with its own node credentials. Pods get
// 10.100.0.0/16 (cluster CIDR, /24 per node), Services stay in 10.96.0.0/16, the LAN is 10.110.<k>.0/24:
// all inside the egress guard's 10.96.0.0/12. stop() removes every process, namespace and directory.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import { AgentConfigShape } from '../../agent/config.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { startControlPlane, type ControlPlane } from './harness.js';
import { dockerdPaths, loadImages, removeDockerdState, saveImages, startDockerd, type DockerdPaths } from './dockerd.js';
import { createLan, deleteLan, deleteLanSync, hostNetworkState, inNetns, pickLanIndex, planLan, type LanNode, type LanPlan } from './lan.js';
import { startEgressWatch, type EgressWatch } from './egress-watch.js';
import { waitFor } from './net.js';
import { ProcessSet } from './procs.js';

export const CLUSTER_CIDR = '10.100.0.0/16';
export const NODE_CIDR_MASK = 24;
export const BED_IMAGES = ['dockerlet/busybox:1.36', 'registry.k8s.io/pause:3.10'];
const execFileP = promisify(execFile);
const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface BedNode extends LanNode {
  dir: string;
  rootDir: string;
  docker: Dockerode;
  dockerd: DockerdPaths;
  kubeconfigPath: string;
  agentLog: string;
  /** Runs a command in this node's network namespace. */
  exec(cmd: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
  /** Whether its dockerlet and dockerd run. */
  running: boolean;
}

export interface MultiNodeOptions {
  nodes?: number;
  /** Extra images (already on the host's daemon) to load into every node's daemon. */
  images?: string[];
  /** clusterDNS for the agents (default 10.96.0.10; [] for none). */
  clusterDNS?: string[];
  signal?: AbortSignal;
  log?: boolean;
  /** Bound on the whole start-up (default 300 s). */
  timeoutMs?: number;
  /** Extra kube-controller-manager flags. */
  controllerManagerArgs?: string[];
}

export interface MultiNodeCluster {
  cp: ControlPlane;
  lan: LanPlan;
  nodes: BedNode[];
  clusterCidr: string;
  dir: string;
  /** Stops one node's dockerlet and dockerd; unplug also takes its LAN link down. */
  stopNode(name: string, opts?: { unplug?: boolean }): Promise<void>;
  /** Stops one node's dockerlet and starts it again with the same arguments (dockerd keeps running). */
  restartAgent(name: string): Promise<void>;
  /** Packets the bed's own nftables watch (egress-watch.ts) counted leaving toward pod/LAN addresses: must stay 0. */
  leaks(): Promise<{ out: number; forwarded: number }>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

function agentConfigYaml(clusterDNS: string[]): string {
  const lines = [`clusterDNS: [${clusterDNS.join(', ')}]`];
  // The field comes with the agent's pod network wiring; older agents would reject it as unknown.
  if ('nonMasqueradeCIDR' in AgentConfigShape) lines.push(`nonMasqueradeCIDR: ${CLUSTER_CIDR}`);
  lines.push('proxy:', '  podBridgeInterface: dockerlet0', '');
  return lines.join('\n');
}

export async function startMultiNodeCluster(opts: MultiNodeOptions = {}): Promise<MultiNodeCluster> {
  const count = opts.nodes ?? 3;
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  const state = await hostNetworkState();
  const lan = planLan(pickLanIndex(state.addrs, state.netns), count);
  const dir = await mkdtemp(join('/var/tmp', `dockerlet-bed-${lan.tag}-`));
  const procs = new ProcessSet();
  let cp: ControlPlane | undefined;
  const nodes: BedNode[] = [];
  let watch: EgressWatch | undefined;
  const onExit = () => {
    deleteLanSync(lan);
    // Daemons SIGKILLed on the way out leave their mounts and directories: unmount lazily, then remove.
    const ours = [dir, ...lan.nodes.map((n) => `/run/dkl-${lan.tag}-${n.lanIf}`)];
    for (const m of mountsUnderSync(ours)) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore', timeout: 5_000 });
      } catch {
        /* gone */
      }
    }
    if (process.env.DOCKERLET_KEEP_CLUSTER !== '1') for (const d of ours) rmSync(d, { recursive: true, force: true });
    try {
      execFileSync('nft', ['delete', 'table', 'ip', `dockerlet_bed_${lan.tag}`], { stdio: 'ignore', timeout: 5_000 });
    } catch {
      /* not there */
    }
  };
  process.on('exit', onExit);
  // On SIGINT/SIGTERM/SIGHUP the process set SIGKILLs the daemons and runs this (no 'exit' event then).
  procs.exitCleanup = onExit;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await procs.stopAll([nodes.map((n) => `dockerlet-${n.name}`), nodes.map((n) => `dockerd-${n.name}`)], 15_000);
      await cp?.stop();
      for (const n of nodes) await removeDockerdState(n.dockerd, n.dir);
      await deleteLan(lan);
      await watch?.remove();
      if (process.env.DOCKERLET_KEEP_CLUSTER !== '1') await rm(dir, { recursive: true, force: true });
      process.removeListener('exit', onExit);
    })();
    return stopped;
  };

  try {
    await createLan(lan);
    watch = await startEgressWatch(lan.tag, lan.hostIf, [CLUSTER_CIDR, lan.cidr]);
    const imagesTar = join(dir, 'images.tar');
    const [plane] = await Promise.all([
      startControlPlane({
        advertiseAddress: lan.hostIP,
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.log ? { log: true } : {}),
        controllerManagerArgs: ['--allocate-node-cidrs=true', `--cluster-cidr=${CLUSTER_CIDR}`, `--node-cidr-mask-size=${NODE_CIDR_MASK}`, ...(opts.controllerManagerArgs ?? [])],
      }),
      saveImages([...BED_IMAGES, ...(opts.images ?? [])], imagesTar),
    ]);
    cp = plane;
    const server = `https://${lan.hostIP}:${plane.apiPort}`;
    const clusterDNS = opts.clusterDNS ?? ['10.96.0.10'];
    const startNode = async (ln: LanNode): Promise<BedNode> => {
      const ndir = join(dir, ln.name);
      const paths = dockerdPaths(ndir, `/run/dkl-${lan.tag}-${ln.lanIf}`, `dkl-${lan.tag}-${ln.lanIf}`);
      const docker = await startDockerd(procs, ln.name, ln.netns, paths, { deadline, ...(opts.signal ? { signal: opts.signal } : {}) });
      await loadImages(paths.socket, imagesTar);
      const creds = await plane.mintNodeCredentials(ln.name, { server });
      const rootDir = join(ndir, 'dockerlet');
      await mkdir(rootDir, { recursive: true });
      const configPath = join(ndir, 'dockerlet.yaml');
      await writeFile(configPath, agentConfigYaml(clusterDNS));
      const agentLog = join(ndir, 'dockerlet.log');
      procs.spawn(`dockerlet-${ln.name}`, 'nsenter', [
        `--net=/var/run/netns/${ln.netns}`, '--', process.execPath, join(repoRoot, 'bin/dockerlet.js'), 'run',
        '--config', configPath, '--kubeconfig', creds.kubeconfigPath, '--node-name', ln.name, '--root-dir', rootDir,
        '--docker-endpoint', paths.socket, '--log-format', 'json', '--client-ca-file', plane.caCertPath,
      ], agentLog);
      return {
        ...ln, dir: ndir, rootDir, docker, dockerd: paths, kubeconfigPath: creds.kubeconfigPath, agentLog, running: true,
        exec: (cmd, timeoutMs) => inNetns(ln.netns, cmd, timeoutMs),
      };
    };
    // One node at a time: three daemons loading images at once only thrash this small machine.
    for (const ln of lan.nodes) nodes.push(await startNode(ln));
    const admin = plane.adminKubeconfigPath;
    await waitFor(`${count} nodes Ready with a podCIDR`, async () => {
      const { stdout } = await kubectlJson(admin, ['get', 'nodes']);
      const items = (JSON.parse(stdout) as { items: { metadata: { name: string }; spec?: { podCIDR?: string }; status?: { conditions?: { type: string; status: string }[] } }[] }).items;
      const ready = items.filter((n) => n.spec?.podCIDR && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      if (ready.length < count) throw new Error(`ready with podCIDR: ${ready.map((n) => n.metadata.name).join(', ') || 'none'} of ${count}`);
      return true;
    }, { deadline, intervalMs: 1_000, abortIf: () => procs.deadReason(), ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    const tail = procs.tail(20);
    await stop().catch(() => undefined);
    throw new DockerletError(ErrorCodes.CONTROL_PLANE, `multi-node bed did not come up: ${errorMessage(err)}\n${tail}`, { cause: err });
  }
  opts.signal?.addEventListener('abort', () => void stop(), { once: true });
  const plane = cp;
  const leakWatch = watch;
  return {
    cp: plane, lan, nodes, clusterCidr: CLUSTER_CIDR, dir,
    async stopNode(name, o = {}) {
      const n = nodes.find((x) => x.name === name);
      if (!n) throw new DockerletError(ErrorCodes.NOT_FOUND, `no bed node ${name}`);
      if (n.running) {
        await procs.stop(`dockerlet-${name}`, 15_000);
        await procs.stop(`dockerd-${name}`, 20_000);
        n.running = false;
      }
      if (o.unplug) await inNetns(lan.lanNetns, ['ip', 'link', 'set', n.lanIf, 'down']).catch(() => undefined);
    },
    async restartAgent(name) {
      await procs.stop(`dockerlet-${name}`, 15_000);
      procs.start(`dockerlet-${name}`);
    },
    leaks: () => (leakWatch ? leakWatch.counts() : Promise.resolve({ out: 0, forwarded: 0 })),
    logTail: (lines = 40) => `${plane.logTail(lines)}\n${procs.tail(lines)}`,
    stop,
  };
}

/** Mount points under any of the prefixes, deepest first (synchronous, for exit hooks). */
function mountsUnderSync(prefixes: string[]): string[] {
  let lines: string[];
  try {
    lines = readFileSync('/proc/self/mounts', 'utf8').split('\n');
  } catch {
    return [];
  }
  return lines.map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => prefixes.some((p) => m === p || m.startsWith(`${p}/`)))
    .sort((a, b) => b.length - a.length);
}

/** kubectl -o json with the given kubeconfig. */
export async function kubectlJson(kubeconfig: string, args: string[], timeoutMs = 30_000): Promise<{ stdout: string; stderr: string }> {
  return execFileP('kubectl', ['--kubeconfig', kubeconfig, ...args, '-o', 'json'], { timeout: timeoutMs, maxBuffer: 32 << 20 });
}
