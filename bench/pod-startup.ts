// `npm run bench -- pod-startup [--quick] [--cpu-prof DIR] [--trials 5] ...` (bench/lib/pod-options.ts
// lists every flag). A real control plane + the agent as a child process on this host's Docker, the
// kubelet's pod-startup SLIs as upstream's density e2e measures them: (a) single-pod create →
// Running-seen-by-watch latency; (b) a Deployment scaled 0 → N on the node, in paired trials against a
// raw-Docker run of the same sandbox + container pairs at the agent's parallelism (order shuffled),
// with each pod's time split into control plane / agent / Docker; idle agent CPU and RSS with N pods;
// (c) a 250-pod run. Writes bench/results/pod-startup.json (--quick: a file under the tmp dir).
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import type { Node } from '../kube/api.js';
import { createKubeClient, type DockerletKubeClient } from '../kube/client.js';
import { isNotFound } from '../kube/errors.js';
import { loadKubeconfig } from '../kube/kubeconfig.js';
import { errorMessage } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import { mountsUnder, unmount } from '../agent/volumes/mounts-host.js';
import { startControlPlane, type ControlPlane } from '../test/cluster/harness.js';
import { freePort } from '../test/cluster/net.js';
import { DEFAULT_CLUSTER_DNS_IP } from '../test/cluster/dns.js';
import { compileAgent, readProcUsage, startAgent, summariseAgentLog, type AgentProcess } from './lib/pod-agent.js';
import { AgentSeen } from './lib/pod-agentseen.js';
import { INSPECT_FLAG, PhaseProfiler } from './lib/pod-inspector.js';
import { removeBaselineContainers } from './lib/pod-baseline.js';
import { podCgroupPaths, removeEmptyCgroups } from '../runtime/docker/runtime.js';
import { DockerFilterProxy } from './lib/pod-docker-filter.js';
import { parseOptions, shippedNodeFlags } from './lib/pod-options.js';
import { createDecoy, type Decoy } from './lib/pod-decoy.js';
import { BUSYBOX, PAUSE, createDeployment, runSinglePods, type PhaseCtx } from './lib/pod-phases.js';
import { summariseProfileFile, type ProfileSummary } from './lib/pod-profile.js';
import { BASELINES, buildReport, printStages, printTable, writeReport } from './lib/pod-report.js';
import { splitLists, splitSummary } from './lib/pod-split.js';
import { dist, mapLimit, round } from './lib/pod-timeline.js';
import { agentRun, type AgentRun, type TrialCtx } from './lib/pod-trials.js';
import { PodWatch } from './lib/pod-watch.js';
import { densityPhase, runDetails } from './lib/pod-density.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
// Per run: the pass-through scopes the agent by the namespace label, and cleanup removes by it, so
// two runs at once (another engineer's) must not share it.
const RUN_ID = randomBytes(3).toString('hex');
const NAMESPACE = `bench-pod-startup-${RUN_ID}`;
const NODE = `bench-pod-startup-${RUN_ID}`;

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
  // And their pod cgroups, as the agent's own removal would (outside the timed runs: left to the agent's
  // orphan GC they would be removed during the next run).
  const uids = new Set(list.map((c) => c.Labels['io.kubernetes.pod.uid']).filter((u): u is string => !!u));
  await removeEmptyCgroups([...uids].flatMap((u) => podCgroupPaths(u)));
  return list.length;
}

async function unmountUnder(dir: string): Promise<void> {
  for (const m of await mountsUnder([dir]).catch(() => [])) await unmount(m.mountpoint).catch(() => undefined);
}

export async function main(args: string[]): Promise<void> {
  const opts = parseOptions(args, REPO);
  const cpuProfDir = opts.cpuProfDir ? resolve(opts.cpuProfDir) : undefined;
  const phasesDir = opts.profilePhasesDir ? resolve(opts.profilePhasesDir) : undefined;
  const docker = new Dockerode();
  for (const img of [PAUSE, BUSYBOX]) {
    await docker.getImage(img).inspect().catch(() => { throw new Error(`image ${img} is missing (run scripts/setup-host.sh; never pulled here)`); });
  }
  const work = await mkdtemp(join(tmpdir(), 'dockerlet-bench-pod-'));
  const rootDir = join(work, 'root');
  const notes: string[] = [];
  const loadAtStart = loadavg();
  let cp: ControlPlane | undefined;
  let admin: DockerletKubeClient | undefined;
  let watch: PodWatch | undefined;
  let agent: AgentProcess | undefined;
  let proxy: DockerFilterProxy | undefined;
  let profiler: PhaseProfiler | undefined;
  let decoy: Decoy | undefined;
  const seen = new AgentSeen(rootDir, join(work, 'agent.log'));
  const onSignal = () => { log('signal: cleaning up'); void cleanup().finally(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let cleaned: Promise<void> | undefined;
  const cleanup = () => (cleaned ??= (async () => {
    profiler?.close();
    await decoy?.kubelet?.stop().catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    seen.stop();
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
    log(`options: ${JSON.stringify(opts)}`);
    log('starting the control plane');
    cp = await startControlPlane({ timeoutMs: 180_000, ownSessions: opts.controlPlaneNice > 0 });
    log(`control plane ready in ${cp.timings.ready} ms`);
    let endpoint = '/var/run/docker.sock';
    if (!opts.directDocker) {
      proxy = new DockerFilterProxy({ socketPath: join(work, 'docker.sock'), namespace: NAMESPACE });
      await proxy.start();
      endpoint = proxy.socketPath;
      notes.push(`the agent reached Docker through the bench's pass-through socket (bench/lib/pod-docker-filter.ts), which shows it only namespace ${NAMESPACE}'s containers (other agents share this dockerd) and times each pod's create/start calls for the split`);
    } else notes.push('--direct-docker: the agent talked to dockerd directly (it sees other agents\' containers on this shared dockerd; no per-pod Docker split)');
    const baselineDocker = proxy && !opts.baselineDirect ? new Dockerode({ socketPath: proxy.socketPath }) : docker;
    notes.push(baselineDocker === docker ? 'the raw-Docker baseline talked to dockerd directly' : 'the raw-Docker baseline went through the same pass-through socket as the agent (both pay its cost; --baseline-direct changes that)');
    const creds = await cp.mintNodeCredentials(NODE);
    admin = createKubeClient(loadKubeconfig(cp.adminKubeconfigPath), { log: silentLogger() });
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } });
    const a = admin;
    await pollUntil('ServiceAccount default in the bench namespace', 60_000, async () => (await a.get(`/api/v1/namespaces/${NAMESPACE}/serviceaccounts/default`)) ?? undefined);
    watch = new PodWatch(admin, NAMESPACE);
    await watch.start();

    let entry: string | undefined;
    if (opts.compiled) {
      entry = await compileAgent(opts.agentRepo, join(work, 'js'));
      notes.push('the agent ran as plain JavaScript (sources transpiled file by file with esbuild, no tsx loader): --compiled');
    }
    if (opts.agentRepo !== REPO) notes.push(`the agent ran from ${opts.agentRepo}, not this checkout`);
    notes.push(`agent node flags: ${opts.agentNodeFlags.join(' ') || 'none'}${opts.agentNodeFlags.join(' ') === shippedNodeFlags(opts.agentRepo).join(' ') ? ' (as shipped: the systemd unit\'s NODE_OPTIONS)' : ''}`);
    const configFile = join(work, 'agent.yaml');
    // Its own kubelet API port on loopback: another engineer's agent may hold 10250 on this host.
    const port = await freePort();
    // clusterDNS as a cluster's nodes have it (kubeadm's 10.96.0.10): without it every ClusterFirst pod
    // gets a MissingClusterDNS Warning and a Node event (two more API writes per pod than a real node).
    await writeFile(configFile, `maxPods: ${opts.maxPods}\nport: ${port}\naddress: 127.0.0.1\nclusterDNS: [${DEFAULT_CLUSTER_DNS_IP}]\n${opts.podWorkers !== undefined ? `podWorkers: ${opts.podWorkers}\n` : ''}${opts.runtimeParallelism !== undefined ? `runtimeParallelism: ${opts.runtimeParallelism}\n` : ''}`);
    notes.push(`agent config: clusterDNS [${DEFAULT_CLUSTER_DNS_IP}] (as a cluster's nodes; the raw-Docker sandboxes get the same resolv.conf), maxPods ${opts.maxPods}${opts.big > 100 ? ` (its default 110 would refuse the ${opts.big}-pod run)` : ''}${opts.podWorkers !== undefined ? `, podWorkers ${opts.podWorkers}` : ''}${opts.runtimeParallelism !== undefined ? `, runtimeParallelism ${opts.runtimeParallelism}` : ''}`);
    if (cpuProfDir) await mkdir(cpuProfDir, { recursive: true });
    if (phasesDir) await mkdir(phasesDir, { recursive: true });
    const profStart = Date.now();
    await seen.start();
    agent = startAgent({
      repo: opts.agentRepo, kubeconfig: creds.kubeconfigPath, nodeName: NODE, rootDir, dockerEndpoint: endpoint, logPath: join(work, 'agent.log'), configFile, ...(entry ? { entry } : {}),
      nodeFlags: [...opts.agentNodeFlags, ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []), ...(phasesDir ? [INSPECT_FLAG] : [])],
    });
    const ag = agent;
    log(`agent pid ${agent.pid}; waiting for node ${NODE} to be Ready`);
    const agentDead = () => (ag.alive() ? undefined : `agent exited:\n${ag.logTail()}`);
    await pollUntil(`node ${NODE} Ready`, 90_000, async () => {
      const node = await a.get<Node>(`/api/v1/nodes/${NODE}`).catch((err: unknown) => { if (isNotFound(err)) return undefined; throw err; });
      return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? node : undefined;
    }, agentDead);
    const loadAtAgentStart = loadavg();
    if (phasesDir) {
      profiler = new PhaseProfiler({ agentLogPath: join(work, 'agent.log'), dir: phasesDir, roots: [join(work, 'js'), opts.agentRepo] });
      await profiler.connect();
      notes.push(`--profile-phases: the agent's inspector sampled (1 ms) its first ${opts.density}-pod start and idle window${opts.big ? ` and the ${opts.big}-pod run` : ''} (profiles in ${phasesDir}); a profiled run is slower, so a profiled paired trial biases the ratio up`);
    }
    await sleep(1000);
    const idleRssMiB = round((readProcUsage(agent.pid)?.rssKiB ?? NaN) / 1024, 1);
    log(`agent idle RSS ${idleRssMiB} MiB`);
    const ctx: PhaseCtx = { admin, watch, docker, namespace: NAMESPACE, log };

    const figures: Record<string, number> = {};
    const ratios: Record<string, number> = {};
    const details: Record<string, unknown> = {};
    if (opts.pods > 0) {
      log(`(a) ${opts.pods} single pods (+${opts.warmup} warm-up), one after another, each deleted (grace 0) before the next`);
      const singles = await runSinglePods(ctx, opts.pods, opts.warmup);
      const measured = singles.filter((s) => !s.warmup);
      const single = dist(measured.map((s) => s.fromSentMs));
      const singleTs = dist(measured.map((s) => s.fromCreationTimestampMs));
      const stages = Object.fromEntries(Object.keys(measured[0]!.stages).map((k) => [k, dist(measured.map((s) => s.stages[k]!))]));
      printStages('(a) single pod stages (s)', stages);
      Object.assign(figures, { single_pod_p50_s: single.p50, single_pod_p99_s: single.p99, single_pod_from_creation_timestamp_p50_s: singleTs.p50, single_pod_from_creation_timestamp_p99_s: singleTs.p99 });
      details.single = { fromSent: single, fromCreationTimestamp: singleTs, stages, samples: singles.map((s) => ({ name: s.name, warmup: s.warmup, s: round(s.fromSentMs / 1000) })) };
      notes.push(`(a) ${measured.length} pods measured after ${opts.warmup} warm-up; each deleted (grace 0) and its containers stopped before the next; latency = Running (phase Running, every container running) first seen by the bench's admin watch − client-side create-request-sent time; percentiles are nearest-rank, so with < 100 samples p99 is the slowest pod`);
      await removeNamespaceContainers(docker);
    }

    await createDeployment(ctx);
    const c = cp;
    const decoyKubelet = opts.baselineLoad === 'kubelet' ? { mintNodeCredentials: (n: string) => c.mintNodeCredentials(n), docker, nice: opts.controlPlaneNice } : undefined;
    decoy = opts.baselineLoad !== 'none' && opts.trials > 0 && !opts.skipBaseline ? await createDecoy(ctx, `${NODE}-decoy`, decoyKubelet) : undefined;
    if (decoy) log(`decoy node ${decoy.node}: the raw-Docker runs of the trials run while the control plane schedules as many decoy pods there${decoy.kubelet ? ', a decoy kubelet replaying the kubelet\'s writes for them (and once more without those writes)' : ''} (and once more with it idle)`);
    await sleep(2000);
    if (!agent.alive()) throw new Error(`agent exited:\n${agent.logTail()}`);
    const tctx: TrialCtx = {
      ...ctx, proxy, seen, agentAlive: () => ag.alive(), ...(profiler ? { profiler } : {}), agentPid: agent.pid, controlPlanePids: cp.pids(), adminKubeconfig: cp.adminKubeconfigPath, workDir: work, baselineDocker,
      removeContainers: () => removeNamespaceContainers(docker), ...(decoy ? { decoy } : {}),
    };
    const N = opts.density;
    const dens = opts.trials > 0 ? await densityPhase(tctx, opts, docker, log) : undefined;
    if (dens) {
      Object.assign(figures, dens.figures);
      Object.assign(ratios, dens.ratios);
      details.density = dens.details;
      notes.push(...dens.notes, `*_per_pod: apiserver_request_total (its /metrics) diffed over each ${N}-pod run, divided by ${N}, median over the runs; events count every client's (the scheduler's Scheduled, the ReplicaSet controller's SuccessfulCreate) as well as the agent's`);
    }

    let bigRun: AgentRun | undefined;
    if (opts.big > 0) {
      log(`(c) scale 0 → ${opts.big}, then ${opts.idleSeconds} s idle`);
      const big = (bigRun = await agentRun(tctx, opts.big, { ...(opts.idleSeconds ? { idleSeconds: opts.idleSeconds } : {}), keep: true, timeoutMs: 600_000, profile: true }));
      figures[`density_${opts.big}_s`] = big.density.seconds;
      figures[`agent_peak_rss_${opts.big}_mib`] = big.usage.peakRssMiB;
      figures[`agent_cpu_${opts.big}_start_s`] = big.usage.cpuSeconds;
      if (big.idle) {
        figures[`agent_rss_${opts.big}_idle_mib`] = big.idle.rssMiBEnd;
        figures[`idle_cpu_${opts.big}_pct_core`] = big.idle.pctCore;
      }
      printStages(`(c) per-pod split of the ${opts.big}-pod run (s)`, splitSummary(splitLists([big.split])));
      details.big = runDetails(big);
    }

    if (opts.bigFrom && opts.big === 0) {
      const prev = JSON.parse(await readFile(resolve(opts.bigFrom), 'utf8')) as { date: string; figures: Record<string, number>; details: { big?: { pods?: number } }; notes: string[] };
      const n = prev.details.big?.pods;
      if (!n) throw new Error(`--big-from ${opts.bigFrom}: no big run in that file`);
      for (const [k, v] of Object.entries(prev.figures)) if (k.includes(`_${n}_`)) figures[k] = v;
      details.big = { ...prev.details.big, from: { file: opts.bigFrom, date: prev.date } };
      notes.push(`the ${n}-pod figures (*_${n}_*) come from a separate run of this bench (--trials 0, ${prev.date}; same checkout and method), merged with --big-from so this run stays within its time budget; that run's notes: ${prev.notes.filter((x) => x.startsWith('host load') || x.startsWith('agent config')).join(' / ')}`);
    }

    await agent.stop();
    const agentLog = summariseAgentLog(join(work, 'agent.log'));
    let profile: (ProfileSummary & { file: string }) | undefined;
    if (cpuProfDir) {
      // One file per thread (tsx's loader runs in a worker): the main thread's is the largest.
      const files: { f: string; size: number }[] = [];
      for (const f of (await readdir(cpuProfDir).catch(() => [])).filter((x) => x.endsWith('.cpuprofile'))) {
        const st = await stat(join(cpuProfDir, f));
        if (st.mtimeMs >= profStart) files.push({ f, size: st.size });
      }
      const newest = files.sort((x, y) => y.size - x.size)[0];
      if (newest) profile = { file: join(cpuProfDir, newest.f), ...(await summariseProfileFile(join(cpuProfDir, newest.f), [join(work, 'js'), opts.agentRepo])) };
      if (profile) notes.push(`CPU-profiled run (node --cpu-prof, ${profile.file}): the profiler costs some agent CPU, so its times are not comparable with unprofiled runs; the profile covers the agent's whole life (${profile.totalMs} ms on CPU)`);
    }

    notes.push(
      `RSS: peak = VmHWM reset at the start of each run; idle = VmRSS after ${opts.idleSeconds} s idle (10 s after all Running); idle CPU = agent utime+stime over that window / wall time`,
      `host load average (1 min): ${loadAtStart[0]!.toFixed(1)} at the bench start, ${loadAtAgentStart[0]!.toFixed(1)} when the agent was Ready, ${loadavg()[0]!.toFixed(1)} at the end (per run in details), on ${availableParallelism()} cores shared with other engineers' tests: treat absolute times as noisy`,
    );
    Object.assign(details, {
      agentIdleRssMiBAfterRegistration: idleRssMiB,
      loadAverage: { atStart: loadAtStart, atAgentReady: loadAtAgentStart, atEnd: loadavg() },
      agentLog, profile, controlPlaneStartMs: cp.timings.ready, options: opts,
    });
    const report = buildReport(figures, ratios, N, notes, details, dens && !opts.skipBaseline ? BASELINES[decoy ? opts.baselineLoad : 'none'] : undefined);
    printTable(report);
    const profiles: [string, ProfileSummary][] = profile ? [['whole life (--cpu-prof)', profile]] : [];
    for (const r of [...(dens?.runs ?? []), ...(bigRun ? [bigRun] : [])]) profiles.push(...Object.entries(r.profiles ?? {}));
    for (const [name, p] of profiles) {
      printStages(`agent CPU profile ${name} (${p.totalMs} ms on CPU): self ms by file`, Object.fromEntries(p.byFile.slice(0, 10)));
      printStages(`agent CPU profile ${name}: top self functions (ms ← top project call sites)`, Object.fromEntries(p.topWithCallSite.map(([f, v, site]) => [f, `${v} ← ${site}`])));
      printStages(`agent CPU profile ${name}: self ms by project call site`, Object.fromEntries(p.byOurCallSite));
    }
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
