// `npm run bench -- pod-startup [--pods 20] [--warmup 1] [--density 100] [--parallelism 4,10]
//   [--direct-docker] [--cpu-prof] [--compiled] [--agent-repo DIR] [--pod-workers N]
//   [--agent-node-flags "..."] [--skip-baseline] [--out FILE]`
// A real control plane + the agent as a child process on this host's Docker. Measures (a) single-pod
// create → Running-seen-by-watch latency, (b) a Deployment scaled 0 → N on the node to all Running,
// against a raw-Docker baseline of the same sandbox + container pairs, and the agent's RSS and CPU.
// Writes bench/results/pod-startup.json.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Dockerode from 'dockerode';
import type { Node } from '../kube/api.js';
import { createKubeClient, type DockerletKubeClient } from '../kube/client.js';
import { isNotFound } from '../kube/errors.js';
import { loadKubeconfig } from '../kube/kubeconfig.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import { mountsUnder, unmount } from '../agent/volumes/mounts-host.js';
import { startControlPlane, type ControlPlane } from '../test/cluster/harness.js';
import { CpuWindow, ProcSampler, compileAgent, pidsByComm, readProcUsage, startAgent, summariseAgentLog, type AgentProcess, type UsageSummary } from './lib/pod-agent.js';
import { diffCounts, scrapeRequestTotals } from './lib/pod-apimetrics.js';
import { removeBaselineContainers, runBaseline, type BaselineResult } from './lib/pod-baseline.js';
import { DockerFilterProxy, type DockerCallStats } from './lib/pod-docker-filter.js';
import { BUSYBOX, PAUSE, benchPodSpec, createDeployment, drainDensity, runDensity, runSinglePods, type DensityResult, type PhaseCtx } from './lib/pod-phases.js';
import { summariseProfileFile, type ProfileSummary } from './lib/pod-profile.js';
import { buildReport, printStages, printTable, writeReport } from './lib/pod-report.js';
import { dist, mapLimit, percentile, round } from './lib/pod-timeline.js';
import { PodWatch } from './lib/pod-watch.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const NAMESPACE = 'bench-pod-startup';
const NODE = 'bench-pod-startup-node';

interface Options {
  pods: number;
  warmup: number;
  density: number;
  parallelism: number[];
  directDocker: boolean;
  cpuProf: boolean;
  compiled: boolean;
  /** Run the agent from another checkout (e.g. a patched copy); default this repo. */
  agentRepo: string;
  skipBaseline: boolean;
  /** podWorkers for the agent (config file); default the agent's own default. */
  podWorkers?: number;
  /** Extra node flags for the agent, e.g. "--max-semi-space-size=4". */
  agentNodeFlags: string[];
  out: string;
}

function options(args: string[]): Options {
  const { values: v } = parseArgs({
    args,
    options: {
      pods: { type: 'string' }, warmup: { type: 'string' }, density: { type: 'string' }, parallelism: { type: 'string' },
      'direct-docker': { type: 'boolean' }, 'cpu-prof': { type: 'boolean' }, compiled: { type: 'boolean' }, out: { type: 'string' },
      'agent-repo': { type: 'string' }, 'skip-baseline': { type: 'boolean' }, 'pod-workers': { type: 'string' }, 'agent-node-flags': { type: 'string' },
    },
  });
  const int = (s: string | undefined, d: number, min: number, max: number) => {
    const n = s === undefined ? d : Number(s);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`expected an integer in [${min}, ${max}], got ${s}`);
    return n;
  };
  return {
    pods: int(v.pods, 20, 1, 200),
    warmup: int(v.warmup, 1, 0, 10),
    density: int(v.density, 100, 1, 105),
    parallelism: (v.parallelism ?? '4,10').split(',').map((p) => int(p, 4, 1, 200)),
    directDocker: v['direct-docker'] ?? false,
    cpuProf: v['cpu-prof'] ?? false,
    compiled: v.compiled ?? false,
    agentRepo: v['agent-repo'] ?? REPO,
    skipBaseline: v['skip-baseline'] ?? false,
    agentNodeFlags: (v['agent-node-flags'] ?? '').split(' ').filter(Boolean),
    ...(v['pod-workers'] !== undefined ? { podWorkers: int(v['pod-workers'], 1024, 1, 4096) } : {}),
    out: v.out ?? join(REPO, 'bench/results/pod-startup.json'),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (msg: string) => console.log(`[pod-startup ${new Date().toISOString().slice(11, 23)}] ${msg}`);

async function pollUntil<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, abortIf?: () => string | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const why = abortIf?.();
    if (why) throw new Error(`${what}: ${why}`);
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${errorMessage(last)}` : ''}`);
}

/** Removes every container of the bench namespace (apps first) and the baseline's. */
async function removeNamespaceContainers(docker: Dockerode): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`io.kubernetes.pod.namespace=${NAMESPACE}`] } });
  const isSandbox = (c: Dockerode.ContainerInfo) => c.Labels['io.kubernetes.docker.type'] === 'podsandbox';
  for (const pass of [list.filter((c) => !isSandbox(c)), list.filter(isSandbox)]) {
    await mapLimit(pass, 8, (c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined));
  }
  return list.length;
}

async function unmountUnder(dir: string): Promise<void> {
  for (const m of await mountsUnder([dir]).catch(() => [])) await unmount(m.mountpoint).catch(() => undefined);
}

export async function main(args: string[]): Promise<void> {
  const opts = options(args);
  const docker = new Dockerode();
  for (const img of [PAUSE, BUSYBOX]) {
    await docker.getImage(img).inspect().catch(() => { throw new Error(`image ${img} is missing (run scripts/setup-host.sh; never pulled here)`); });
  }
  const work = await mkdtemp(join(tmpdir(), 'dockerlet-bench-pod-'));
  const rootDir = join(work, 'root');
  const notes: string[] = [];
  let cp: ControlPlane | undefined;
  let admin: DockerletKubeClient | undefined;
  let watch: PodWatch | undefined;
  let agent: AgentProcess | undefined;
  let proxy: DockerFilterProxy | undefined;
  const onSignal = () => { log('signal: cleaning up'); void cleanup().finally(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let cleaned: Promise<void> | undefined;
  const cleanup = () => (cleaned ??= (async () => {
    await agent?.stop().catch(() => undefined);
    await watch?.stop().catch(() => undefined);
    admin?.close();
    const n = await removeNamespaceContainers(docker).catch(() => 0);
    const b = await removeBaselineContainers(docker).catch(() => 0);
    if (n + b) log(`removed ${n} pod containers and ${b} baseline containers`);
    await unmountUnder(work);
    await proxy?.stop().catch(() => undefined);
    await cp?.stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  })());

  try {
    log('starting the control plane');
    cp = await startControlPlane({ timeoutMs: 180_000 });
    log(`control plane ready in ${cp.timings.ready} ms`);
    let endpoint = '/var/run/docker.sock';
    if (!opts.directDocker) {
      proxy = new DockerFilterProxy({ socketPath: join(work, 'docker.sock'), namespace: NAMESPACE });
      await proxy.start();
      endpoint = proxy.socketPath;
      notes.push(`the agent reached Docker through the bench's pass-through socket (bench/lib/pod-docker-filter.ts), which shows it only namespace ${NAMESPACE}'s containers so it cannot adopt or GC other agents' containers on this shared dockerd; its overhead is measured below`);
    }
    const creds = await cp.mintNodeCredentials(NODE);
    admin = createKubeClient(loadKubeconfig(cp.adminKubeconfigPath), { log: silentLogger() });
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    const a = admin;
    await pollUntil('ServiceAccount default in the bench namespace', 60_000, async () => (await a.get(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts/default`)) ?? undefined);
    watch = new PodWatch(admin, NAMESPACE);
    await watch.start();

    const load0 = loadavg();
    let entry: string | undefined;
    if (opts.compiled) {
      entry = await compileAgent(opts.agentRepo, join(work, 'js'));
      notes.push('the agent ran as plain JavaScript (sources transpiled file by file with esbuild, no tsx loader): --compiled');
    }
    if (opts.agentRepo !== REPO) notes.push(`the agent ran from ${opts.agentRepo}, not this checkout`);
    if (opts.agentNodeFlags.length) notes.push(`agent node flags: ${opts.agentNodeFlags.join(' ')}`);
    let configFile: string | undefined;
    if (opts.podWorkers !== undefined) {
      configFile = join(work, 'agent.yaml');
      await writeFile(configFile, `podWorkers: ${opts.podWorkers}\n`);
      notes.push(`the agent ran with podWorkers ${opts.podWorkers} (at most that many pod syncs at once)`);
    }
    const logPath = join(work, 'agent.log');
    const profDir = join(work, 'prof');
    agent = startAgent({
      repo: opts.agentRepo, kubeconfig: creds.kubeconfigPath, nodeName: NODE, rootDir, dockerEndpoint: endpoint, logPath, ...(entry ? { entry } : {}), ...(configFile ? { configFile } : {}),
      nodeFlags: [...opts.agentNodeFlags, ...(opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])],
    });
    const ag = agent;
    log(`agent pid ${agent.pid}; waiting for node ${NODE} to be Ready`);
    const agentDead = () => (ag.alive() ? undefined : `agent exited:\n${ag.logTail()}`);
    await pollUntil(`node ${NODE} Ready`, 90_000, async () => {
      const node = await a.get<Node>(`/api/v1/nodes/${NODE}`).catch((err: unknown) => { if (isNotFound(err)) return undefined; throw err; });
      return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? node : undefined;
    }, agentDead);

    await sleep(1000);
    const idleRssMiB = round((readProcUsage(agent.pid)?.rssKiB ?? NaN) / 1024, 1);
    log(`agent idle RSS ${idleRssMiB} MiB`);
    const ctx: PhaseCtx = { admin, watch, docker, namespace: NAMESPACE, log };
    log(`(a) ${opts.pods} single pods (+${opts.warmup} warm-up), one after another, each deleted (grace 0) before the next`);
    const singles = await runSinglePods(ctx, opts.pods, opts.warmup);
    const measured = singles.filter((s) => !s.warmup);
    const single = dist(measured.map((s) => s.fromSentMs));
    const singleTs = dist(measured.map((s) => s.fromCreationTimestampMs));
    const singleStages = Object.fromEntries(Object.keys(measured[0]!.stages).map((k) => [k, dist(measured.map((s) => s.stages[k]!))]));
    printStages('(a) single pod stages (s)', singleStages);
    // Exited containers of (a)'s deleted pods: remove them so (b) starts from an empty node.
    await removeNamespaceContainers(docker);

    log(`(b) Deployment scale 0 → ${opts.density}`);
    await createDeployment(ctx);
    await sleep(2000);
    if (!agent.alive()) throw new Error(`agent exited:\n${agent.logTail()}`);
    proxy?.reset();
    const apiBefore = await scrapeRequestTotals(cp.adminKubeconfigPath);
    const sampler = new ProcSampler(agent.pid);
    const dockerPids = () => ({ dockerd: pidsByComm(['dockerd']), containerd: pidsByComm(['containerd']) });
    const cpuB = new CpuWindow();
    cpuB.start({ agent: [agent.pid], '@': cp.pids(), ...dockerPids() });
    sampler.start(200);
    let density: DensityResult;
    let usage: UsageSummary;
    try {
      density = await runDensity(ctx, opts.density, 300_000);
    } finally {
      usage = sampler.stop();
    }
    const cpuDensity = cpuB.stop();
    const calls: DockerCallStats | undefined = proxy?.snapshot();
    const apiCalls = diffCounts(apiBefore, await scrapeRequestTotals(cp.adminKubeconfigPath));
    log(`(b) ${opts.density} Running in ${density.seconds} s; agent peak RSS ${usage.peakRssMiB} MiB, CPU ${usage.cpuSeconds} s`);
    printStages(`(b) density stages (s, from the scale request)`, density.stages);
    if (density.restarts || density.extraContainers) {
      notes.push(`(b) saw ${density.restarts} container restarts and ${density.extraContainers} extra containers: something disturbed the pods (another agent's GC on this dockerd?)`);
    }

    log('(b) draining: scale to 0, wait for the agent to stop every container');
    if (!(await drainDensity(ctx, 240_000))) notes.push('the drain after (b) did not finish within 240 s');
    const idle = proxy?.snapshot();
    await agent.stop();
    const agentLog = summariseAgentLog(logPath);
    let profile: ProfileSummary | undefined;
    if (opts.cpuProf) {
      const files = (await readdir(profDir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile'));
      if (files[0]) profile = await summariseProfileFile(join(profDir, files[0]), [join(work, 'js'), REPO]);
      if (profile) notes.push(`CPU-profiled run (node --cpu-prof): the profiler costs some agent CPU; the profile covers the agent's whole life (${profile.totalMs} ms on CPU)`);
    }
    await removeNamespaceContainers(docker);
    await unmountUnder(rootDir);

    const parallelisms = opts.skipBaseline ? [] : [...new Set([...opts.parallelism, Math.max(1, Math.round(density.inFlight.mean)), density.inFlight.max])].sort((x, y) => x - y);
    const baselines: (BaselineResult & { cpu?: Record<string, number> })[] = [];
    const template = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'bench-baseline', uid: 'x' }, spec: benchPodSpec() };
    for (const p of parallelisms) {
      log(`raw-Docker baseline: ${opts.density} pairs at parallelism ${p}`);
      const cpu = new CpuWindow();
      cpu.start(dockerPids());
      const b = await runBaseline(docker, { count: opts.density, parallelism: p, pauseImage: PAUSE, image: BUSYBOX, dir: join(work, `baseline-${p}`), template });
      baselines.push({ ...b, cpu: cpu.stop() });
      await removeBaselineContainers(docker);
    }
    const ok = baselines.filter((b) => b.failures === 0);
    if (ok.length === 0 && !opts.skipBaseline) throw new Error(`every baseline trial failed: ${baselines.map((b) => b.firstError).join('; ')}`);
    const best = ok.reduce<BaselineResult | undefined>((x, y) => (!x || y.seconds < x.seconds ? y : x), undefined) ?? { parallelism: 0, seconds: NaN, failures: 0 };
    if (opts.skipBaseline) notes.push('baseline skipped (--skip-baseline): raw_docker and the ratio are not measured in this run');
    let viaProxy: BaselineResult | undefined;
    if (proxy && !opts.skipBaseline) {
      log(`raw-Docker baseline through the bench's Docker pass-through at parallelism ${best.parallelism} (its overhead)`);
      viaProxy = await runBaseline(new Dockerode({ socketPath: proxy.socketPath }), { count: opts.density, parallelism: best.parallelism, pauseImage: PAUSE, image: BUSYBOX, dir: join(work, 'baseline-proxy'), template });
      await removeBaselineContainers(docker);
    }

    const figures: Record<string, number> = {
      single_pod_p50_s: single.p50,
      single_pod_p99_s: single.p99,
      single_pod_from_creation_timestamp_p50_s: singleTs.p50,
      single_pod_from_creation_timestamp_p99_s: singleTs.p99,
      [`density_${opts.density}_s`]: density.seconds,
      [`raw_docker_${opts.density}_s`]: best.seconds,
      [`raw_docker_${opts.density}_median_trial_s`]: round(percentile(ok.map((b) => b.seconds), 50)),
      agent_peak_rss_mib: usage.peakRssMiB,
      agent_cpu_seconds: usage.cpuSeconds,
    };
    notes.push(
      `(a) ${measured.length} pods measured after ${opts.warmup} warm-up; each deleted (grace 0) and its containers stopped before the next; primary latency = Running (phase Running, every container running) first seen by the bench's admin watch − client-side create-request-sent time; the creationTimestamp-based figure has 1 s server precision; percentiles are nearest-rank, so with < 100 samples p99 is the slowest pod`,
      `(b) ${opts.density} replicas, timed from the scale request to the watch seeing all Running; includes ReplicaSet slow-start creation (last pod created ${density.lastCreatedSeenS} s) and scheduling (last bound ${density.lastScheduledSeenS} s); Docker: first sandbox ${density.firstSandboxS} s, last app container started ${density.lastAppStartedS} s`,
      `agent effective parallelism in (b): pods between sandbox created and app started max ${density.inFlight.max}, mean ${density.inFlight.mean}; baseline trials at ${parallelisms.join(', ')}: ${baselines.map((b) => `${b.parallelism}→${b.seconds}s${b.failures ? ` (${b.failures} failed)` : ''}`).join(', ')}; fastest taken as the limit (a best-of-N under varying host load is biased low; the median trial is reported too)`,
      `agent RSS: VmHWM ${usage.hwmReset ? 'reset at the start of (b)' : 'since agent start'} (max VmRSS sampled ${usage.maxSampledRssMiB} MiB in ${usage.samples} samples; ${idleRssMiB} MiB idle after registration, ${usage.startRssMiB} MiB when (b) began); CPU = utime+stime during (b)`,
      `host load average (1 min) ${load0[0]!.toFixed(1)} when the agent started, ${loadavg()[0]!.toFixed(1)} at the end, on ${availableParallelism()} cores shared with other work: treat absolute times as noisy`,
    );
    if (viaProxy) notes.push(`baseline through the pass-through socket: ${viaProxy.seconds} s vs direct ${best.seconds} s at parallelism ${best.parallelism}`);
    const details = {
      single: { fromSent: single, fromCreationTimestamp: singleTs, stages: singleStages, samples: singles.map((s) => ({ name: s.name, warmup: s.warmup, s: round(s.fromSentMs / 1000) })) },
      density,
      baselines, baselineViaProxy: viaProxy,
      agentUsage: { ...usage, idleRssMiB },
      loadAverage: { atAgentStart: load0, atEnd: loadavg() },
      dockerCallsDuringDensity: calls,
      dockerCallsDuringDrain: idle ? subtractCalls(idle, calls) : undefined,
      apiRequestsDuringDensity: apiCalls,
      cpuSecondsDuringDensity: cpuDensity,
      agentLog,
      profile,
      controlPlaneStartMs: cp.timings.ready,
      options: opts,
    };
    const report = buildReport(figures, opts.density, notes, details);
    printTable(report);
    if (calls) printStages(`Docker calls by the agent during (b) (count, total ms, max ms)`, Object.fromEntries(Object.entries(calls.routes).map(([k, r]) => [k, [r.count, Math.round(r.totalMs), Math.round(r.maxMs)]])));
    printStages('CPU seconds during (b) (shims/runc are in the host total only)', cpuDensity);
    printStages('CPU seconds during each baseline trial', Object.fromEntries(baselines.map((b) => [`parallelism ${b.parallelism} (${b.seconds} s)`, b.cpu])));
    printStages('apiserver requests during (b)', Object.fromEntries(Object.entries(apiCalls).slice(0, 12)));
    if (calls) printStages('inspects of a container while its start was in flight', { ...calls.inspectsDuringStart });
    if (profile) printStages('agent CPU profile: self ms by file', Object.fromEntries(profile.byFile));
    await writeReport(opts.out, report);
    log(`wrote ${opts.out}`);
  } catch (err) {
    if (agent) console.error(`agent log tail:\n${agent.logTail(40)}`);
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await cleanup();
  }
}

function subtractCalls(later: DockerCallStats, earlier: DockerCallStats | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, r] of Object.entries(later.routes)) {
    const d = r.count - (earlier?.routes[k]?.count ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}
