// The conformance bed: the project's real control plane (test/cluster/harness.ts: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler at the pinned version) and ONE dockerlet node process, as a
// cluster operator would run them: `dockerlet agent|run --kubeconfig <node creds> --client-ca-file <cluster CA>`.
// The node gets a unique name (its containers carry it, so it never adopts or collects another agent's
// containers on this shared dockerd), a free kubelet port and its own root dir. The e2e framework needs
// every node Ready and schedulable before it starts (setupSuite), so start() waits for that.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane, type ControlPlane } from '../cluster/harness.js';
import { freePort } from '../cluster/net.js';
import { Labels } from '../../runtime/naming.js';
import { kubectl, run } from './kubectl.js';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface BedOptions {
  /** Work dir (logs, kubeconfigs, the node's root dir); kept after stop for inspection. */
  dir: string;
  nodeName: string;
  /** Run the service proxy too (`dockerlet run`), on its own ports and iptables chain prefix. */
  withProxy: boolean;
  signal: AbortSignal;
  log: (msg: string) => void;
}

export interface Bed {
  adminKubeconfig: string;
  nodeName: string;
  nodeLog: string;
  controlPlane: ControlPlane;
  /** Whether the node process is still running. */
  nodeAlive(): boolean;
  /** Unexpected exits of the node (each restarted 5 s later, as systemd/dockerlet.service does). */
  nodeCrashes(): { at: string; code: number | null; signal: string | null }[];
  stop(): Promise<void>;
}

export async function startBed(o: BedOptions): Promise<Bed> {
  await mkdir(o.dir, { recursive: true });
  const cp = await startControlPlane({ dir: join(o.dir, 'controlplane'), signal: o.signal, log: false, timeoutMs: 180_000 });
  let node: ChildProcess | undefined;
  let rootDir: string | undefined;
  const nodeLog = join(o.dir, 'dockerlet.log');
  let stopping = false;
  const crashes: { at: string; code: number | null; signal: string | null }[] = [];
  const stop = async () => {
    stopping = true;
    if (node && node.exitCode === null && node.signalCode === null) {
      const exited = new Promise((r) => node?.once('exit', r));
      node.kill('SIGTERM');
      const t = setTimeout(() => node?.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
    await cp.stop();
    await cleanupNode(o.nodeName, rootDir, o.log);
  };
  try {
    const creds = await cp.mintNodeCredentials(o.nodeName);
    rootDir = await mkdtemp(join(o.dir, 'root-'));
    const port = await freePort('0.0.0.0');
    const config = join(o.dir, 'dockerlet.yaml');
    const proxy = o.withProxy
      ? [
          'proxy:',
          `  healthzPort: ${await freePort('0.0.0.0')}`,
          `  metricsPort: ${await freePort()}`,
          `  chainPrefix: DKLCF${String(process.pid % 100_000)}`,
        ]
      : [];
    await writeFile(config, [`nodeName: ${o.nodeName}`, `rootDir: ${rootDir}`, `port: ${port}`, ...proxy, ''].join('\n'));
    const args = [
      join(repoRoot, 'bin/dockerlet.js'), o.withProxy ? 'run' : 'agent', '--config', config,
      '--kubeconfig', creds.kubeconfigPath, '--client-ca-file', cp.caCertPath,
    ];
    o.log(`node ${o.nodeName}: dockerlet ${args.slice(1).join(' ')} (log ${nodeLog})`);
    const launch = () => {
      const fd = openSync(nodeLog, 'a');
      const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      child.once('exit', (code, signal) => {
        if (stopping) return;
        crashes.push({ at: new Date().toISOString(), code, signal });
        o.log(`dockerlet exited unexpectedly (code ${code}, signal ${signal}); restarting it in 5 s as dockerlet.service would; see ${nodeLog}`);
        setTimeout(() => { if (!stopping) node = launch(); }, 5_000).unref();
      });
      return child;
    };
    node = launch();
    process.once('exit', () => node?.kill('SIGKILL'));
    const admin = cp.adminKubeconfigPath;
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (crashes.length > 0) throw new Error(`dockerlet exited with ${crashes[0]!.code} before its node was Ready; see ${nodeLog}`);
      const r = await kubectl(admin, ['get', 'node', o.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], 10_000);
      if (r.code === 0 && r.stdout.trim() === 'True') break;
      if (Date.now() > deadline) throw new Error(`node ${o.nodeName} not Ready after 120 s (${(r.stdout + r.stderr).trim().slice(0, 200)}); see ${nodeLog}`);
      if (o.signal.aborted) throw new Error('aborted');
      await new Promise((r2) => setTimeout(r2, 1_000));
    }
    o.log(`node ${o.nodeName} Ready (kubelet port ${port})`);
    return {
      adminKubeconfig: admin,
      nodeName: o.nodeName,
      nodeLog,
      controlPlane: cp,
      nodeAlive: () => node !== undefined && node.exitCode === null && node.signalCode === null,
      nodeCrashes: () => [...crashes],
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/**
 * What the node left behind once stopped (a kubelet does not kill its pods on exit, and the specs' namespaces
 * may still be terminating): the containers labelled with this node's name, the volume mounts under its root
 * dir, then the root dir itself. Only this run's node owns those.
 */
async function cleanupNode(nodeName: string, rootDir: string | undefined, log: (m: string) => void): Promise<void> {
  const ids = (await run('docker', ['ps', '-aq', '--filter', `label=${Labels.node}=${nodeName}`], 30_000)).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) {
    log(`removing ${ids.length} containers of node ${nodeName}`);
    await run('docker', ['rm', '-f', '-v', ...ids], 120_000);
  }
  if (!rootDir) return;
  const mounts = (await readFile('/proc/self/mounts', 'utf8').catch(() => ''))
    .split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${rootDir}/`)).sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m], 10_000);
  await rm(rootDir, { recursive: true, force: true }).catch(() => undefined);
}
