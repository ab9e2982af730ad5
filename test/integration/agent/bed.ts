// The end-to-end test bed for the agent (kubelet half): a real control plane, the agent as a child
// process (`node bin/dockerlet.js agent`) with its node's credentials, kubectl as admin, and the
// Docker CLI for looking inside pods. stop() leaves nothing behind: agent, control plane, temp dir,
// and every Docker container of this bed's pods.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Node, Pod } from '../../../kube/api.js';
import { createKubeClient } from '../../../kube/client.js';
import { createInformer } from '../../../kube/informer.js';
import { loadKubeconfig } from '../../../kube/kubeconfig.js';
import { silentLogger } from '../../../lib/log.js';
import { startControlPlane, type ControlPlane, type StartOptions } from '../../cluster/harness.js';
import { freePort } from '../../cluster/net.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const UID_LABEL = 'io.kubernetes.pod.uid';

export interface RunOptions {
  /** Written to the command's stdin. */
  input?: string;
  timeoutMs?: number;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  what: string;
}

export interface BedOptions {
  /** Unique per test file. */
  nodeName: string;
  /** Create <dir>/manifests and pass it as --pod-manifest-path. */
  staticPods?: boolean;
  /** Extra environment for the agent (e.g. DOCKERLET_* config). */
  agentEnv?: Record<string, string>;
  /** The daemon command: `agent` (default) or `run` (agent + service proxy; startAgent then also waits for "proxy started"). */
  command?: 'agent' | 'run';
  /** Control plane options (e.g. controllerManagerArgs for a short node monitor grace period). */
  controlPlane?: StartOptions;
}

export interface Bed {
  cp: ControlPlane;
  nodeName: string;
  /** The node's kubeconfig (the agent's credentials). */
  kubeconfigPath: string;
  /** The bed's temp dir (removed on stop); hostPath volumes for tests may live under it. */
  dir: string;
  /** The static pod manifest dir, when staticPods was asked for. */
  manifestDir?: string;
  /** The agent's kubelet API port (free on this host; kept across agent restarts). */
  kubeletPort: number;
  kubectl(args: string[], opts?: RunOptions): Promise<string>;
  kubectlJson<T>(args: string[], opts?: RunOptions): Promise<T>;
  /** kubectl apply -f - with the manifest on stdin. */
  apply(manifest: string): Promise<string>;
  /** The Docker CLI; throws with stderr on failure. */
  docker(args: string[], opts?: RunOptions): Promise<string>;
  /** Id of the newest container of a pod's container (by Docker labels); undefined when none. */
  containerId(namespace: string, pod: string, container: string, opts?: { running?: boolean }): Promise<string | undefined>;
  /** docker exec into the running container of a pod; returns stdout. */
  exec(namespace: string, pod: string, container: string, cmd: string[]): Promise<string>;
  startAgent(extraArgs?: string[]): Promise<void>;
  stopAgent(signal?: NodeJS.Signals): Promise<void>;
  killAgent(): Promise<void>;
  agentRunning(): boolean;
  /** pid of the running agent process, or undefined. */
  agentPid(): number | undefined;
  agentLog(): string;
  waitFor<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, opts: WaitOptions): Promise<T>;
  /** The pod, or undefined when it does not exist. */
  pod(namespace: string, name: string): Promise<Pod | undefined>;
  node(): Promise<Node>;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Unmounts what the agent left mounted under dir (tmpfs volumes of pods still bound at stop), deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const unescape = (p: string) => p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
}

// Agents never outlive the test process: killed on exit, and on a terminating signal before the
// signal is re-raised (the control-plane harness then stops its own children the same way).
const liveAgents = new Set<ChildProcess>();
const killAgents = () => {
  for (const c of liveAgents) c.kill('SIGKILL');
};
process.on('exit', killAgents);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  const onSignal = () => {
    killAgents();
    process.removeListener(sig, onSignal);
    process.kill(process.pid, sig);
  };
  process.on(sig, onSignal);
}

export async function startBed(opts: BedOptions): Promise<Bed> {
  const dir = await mkdtemp(join(tmpdir(), `dockerlet-bed-${opts.nodeName}-`));
  let cp: ControlPlane;
  try {
    cp = await startControlPlane(opts.controlPlane);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  try {
    return await makeBed(opts, dir, cp);
  } catch (err) {
    await cp.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function makeBed(opts: BedOptions, dir: string, cp: ControlPlane): Promise<Bed> {
  const creds = await cp.mintNodeCredentials(opts.nodeName);
  const rootDir = join(dir, 'root');
  // Every bed's agent serves the kubelet API on a port of its own, and lets the apiserver's kubelet-client certificate in.
  const kubeletPort = await freePort('0.0.0.0');
  const logPath = join(dir, 'agent.log');
  mkdirSync(rootDir, { recursive: true });
  let manifestDir: string | undefined;
  if (opts.staticPods) {
    manifestDir = join(dir, 'manifests');
    mkdirSync(manifestDir, { recursive: true });
  }
  let agent: { child: ChildProcess; exited: Promise<void> } | undefined;
  /** Every pod UID this control plane ever showed (plus static pod UIDs from mirror annotations). */
  const seenUids = new Set<string>();
  const note = (p: Pod) => {
    if (p.metadata.uid) seenUids.add(p.metadata.uid);
    const mirror = p.metadata.annotations?.['kubernetes.io/config.mirror'];
    if (mirror) seenUids.add(mirror);
  };
  const watcher = createKubeClient(loadKubeconfig(cp.adminKubeconfigPath), { log: silentLogger() });
  const watchAbort = new AbortController();
  const podWatch = createInformer<Pod>(watcher, { path: '/api/v1/pods' }, { log: silentLogger() });
  podWatch.on({ add: note, update: (_o, n) => note(n), delete: note });
  await podWatch.start(watchAbort.signal);

  const kubectl = (args: string[], o?: RunOptions) =>
    run(KUBECTL, ['--kubeconfig', cp.adminKubeconfigPath, '--request-timeout=30s', ...args], o);
  const docker = (args: string[], o?: RunOptions) => run('docker', args, o);
  const agentLog = () => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  const tail = (n = 40) => agentLog().split('\n').filter(Boolean).slice(-n).join('\n');

  async function waitFor<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, w: WaitOptions): Promise<T> {
    const deadline = Date.now() + (w.timeoutMs ?? 30_000);
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v !== undefined && v !== false) return v;
        last = undefined;
      } catch (err) {
        last = err;
      }
      if (Date.now() >= deadline) break;
      await sleep(w.intervalMs ?? 1000);
    }
    const why = last ? `: ${last instanceof Error ? last.message : String(last)}` : '';
    throw new Error(`timed out waiting for ${w.what}${why}\n--- agent log tail ---\n${tail()}`);
  }

  async function recordUids(): Promise<void> {
    const list = await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-A']);
    for (const p of list.items) note(p);
  }

  async function kubectlJson<T>(args: string[], o?: RunOptions): Promise<T> {
    return JSON.parse(await kubectl([...args, '-o', 'json'], o)) as T;
  }

  async function containerId(namespace: string, pod: string, container: string, o: { running?: boolean } = {}): Promise<string | undefined> {
    const filters = [`label=io.kubernetes.pod.namespace=${namespace}`, `label=io.kubernetes.pod.name=${pod}`, `label=io.kubernetes.container.name=${container}`];
    if (o.running) filters.push('status=running');
    const out = await docker(['ps', '-a', '--no-trunc', '--format', '{{.ID}}', ...filters.flatMap((f) => ['--filter', f])]);
    return out.split('\n').map((s) => s.trim()).filter(Boolean)[0]; // docker ps lists newest first
  }

  async function node(): Promise<Node> {
    return kubectlJson<Node>(['get', 'node', opts.nodeName]);
  }

  async function startAgent(extraArgs: string[] = []): Promise<void> {
    if (agent) throw new Error('agent already running');
    const command = opts.command ?? 'agent';
    const args = [join(REPO, 'bin/dockerlet.js'), command, '--kubeconfig', creds.kubeconfigPath, '--node-name', opts.nodeName, '--root-dir', rootDir];
    if (manifestDir) args.push('--pod-manifest-path', manifestDir);
    if (!extraArgs.includes('--port')) args.push('--port', String(kubeletPort));
    if (!extraArgs.includes('--client-ca-file')) args.push('--client-ca-file', cp.caCertPath);
    args.push(...extraArgs);
    const fd = openSync(logPath, 'a');
    const startedAt = Date.now();
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', fd, fd], env: { ...process.env, ...opts.agentEnv } });
    closeSync(fd);
    liveAgents.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => {
      liveAgents.delete(child);
      resolve();
    }));
    agent = { child, exited };
    const count = (re: RegExp) => (agentLog().match(re) ?? []).length;
    const startsBefore = count(/"agent started"/g);
    const proxyStartsBefore = count(/"proxy started"/g);
    await waitFor(async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`agent exited (${child.exitCode ?? child.signalCode})`);
      if (count(/"agent started"/g) <= startsBefore) return undefined;
      if (command === 'run' && count(/"proxy started"/g) <= proxyStartsBefore) return undefined;
      const ready = (await node()).status?.conditions?.find((c) => c.type === 'Ready');
      // A heartbeat from this run (the time has second precision).
      const beat = Date.parse(ready?.lastHeartbeatTime ?? '');
      return ready?.status === 'True' && beat >= Math.floor(startedAt / 1000) * 1000 - 1000 ? true : undefined;
    }, { what: `node ${opts.nodeName} Ready after agent start`, timeoutMs: 60_000, intervalMs: 500 });
  }

  async function stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const a = agent;
    if (!a) return;
    a.child.kill(signal);
    const timedOut = await Promise.race([a.exited.then(() => false), sleep(30_000).then(() => true)]);
    if (timedOut) {
      a.child.kill('SIGKILL');
      await a.exited;
    }
    agent = undefined;
  }

  async function removeContainers(): Promise<void> {
    const out = await docker(['ps', '-a', '--no-trunc', '--filter', `label=${UID_LABEL}`, '--format', `{{.ID}} {{.Label "${UID_LABEL}"}} {{.Label "io.kubernetes.pod.name"}}`]);
    const ids: string[] = [];
    for (const line of out.split('\n')) {
      const [id, uid, name] = line.trim().split(' ');
      if (!id || !uid) continue;
      if (seenUids.has(uid) || (name ?? '').endsWith(`-${opts.nodeName}`)) ids.push(id);
    }
    for (let i = 0; i < ids.length; i += 50) await docker(['rm', '-f', '-v', ...ids.slice(i, i + 50)]).catch(() => undefined);
  }

  return {
    cp,
    nodeName: opts.nodeName,
    kubeconfigPath: creds.kubeconfigPath,
    dir,
    ...(manifestDir ? { manifestDir } : {}),
    kubectl,
    kubectlJson,
    apply: (manifest) => kubectl(['apply', '-f', '-'], { input: manifest }),
    docker,
    containerId,
    async exec(namespace, pod, container, cmd) {
      const id = await containerId(namespace, pod, container, { running: true });
      if (!id) throw new Error(`no running container ${container} of pod ${namespace}/${pod}`);
      return docker(['exec', id, ...cmd]);
    },
    kubeletPort,
    startAgent,
    stopAgent,
    killAgent: () => stopAgent('SIGKILL'),
    agentRunning: () => agent !== undefined,
    agentPid: () => agent?.child.pid,
    agentLog,
    waitFor,
    async pod(namespace, name) {
      const out = await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', namespace, '--field-selector', `metadata.name=${name}`]);
      for (const p of out.items) note(p);
      return out.items[0];
    },
    node,
    async stop() {
      await recordUids().catch(() => undefined);
      await stopAgent().catch(() => undefined);
      await recordUids().catch(() => undefined);
      watchAbort.abort();
      await podWatch.stop().catch(() => undefined);
      watcher.close();
      await cp.stop().catch(() => undefined);
      await removeContainers().catch(() => undefined);
      await unmountUnder(dir);
      if (process.env.DOCKERLET_KEEP_BED === '1') process.stderr.write(`bed kept: ${dir}\n`);
      else await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

/**
 * The usual per-file set-up: a bed started before the file's tests (agent running, namespace created)
 * and stopped after them. Returns the bed's getter for the tests.
 */
export function bedPerFile(opts: BedOptions & { namespace: string }): () => Bed {
  let bed: Bed | undefined;
  before(async () => {
    bed = await startBed(opts);
    await bed.startAgent();
    await bed.kubectl(['create', 'namespace', opts.namespace]);
  }, { timeout: 180_000 });
  after(async () => {
    await bed?.stop();
  }, { timeout: 120_000 });
  return () => {
    if (!bed) throw new Error('the bed did not start (see the before hook)');
    return bed;
  };
}
