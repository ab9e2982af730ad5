// The density side of the pod-startup bench: one agent run (Deployment scaled 0 → N, per-pod split,
// agent RSS/CPU, Docker and API calls, an optional idle window, drain), one raw-Docker run at a given
// parallelism, and the paired trials (agent run + raw-Docker run per trial, order shuffled).
import { randomInt } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { CpuWindow, ProcSampler, clockTicks, pidsByComm, readProcUsage, type UsageSummary } from './pod-agent.js';
import type { AgentSeen, SeenSource } from './pod-agentseen.js';
import type { PhaseProfiler } from './pod-inspector.js';
import type { ProfileSummary } from './pod-profile.js';
import { diffCounts, scrapeRequestTotals, type RequestCounts } from './pod-apimetrics.js';
import { removeBaselineContainers, runBaseline, type BaselineResult } from './pod-baseline.js';
import type { DockerCallStats, DockerFilterProxy, PodCallTimes } from './pod-docker-filter.js';
import { drainDecoy, scaleDecoy, type Decoy } from './pod-decoy.js';
import type { ReplayStats } from './pod-decoy-kubelet.js';
import { BUSYBOX, PAUSE, benchPodSpec, densityPodTimes, drainDensity, runDensity, type DensityResult, type PhaseCtx } from './pod-phases.js';
import { wallSplit, type SplitInput, type WallSplit } from './pod-split.js';
import { percentile, round } from './pod-timeline.js';

export interface TrialCtx extends PhaseCtx {
  proxy: DockerFilterProxy | undefined;
  seen: AgentSeen;
  agentPid: number;
  agentAlive(): boolean;
  controlPlanePids: number[];
  adminKubeconfig: string;
  workDir: string;
  /** The raw-Docker baseline's client: through the same pass-through as the agent, or direct. */
  baselineDocker: Dockerode;
  /** Set with --profile-phases: CPU profiles of the agent's start and idle phases in the runs asked to. */
  profiler?: PhaseProfiler;
  /** Removes every container of the bench namespace (after a drain, the exited ones). */
  removeContainers(): Promise<unknown>;
  /**
   * Set unless --baseline-load none: the raw-Docker arm runs with the control plane's own load
   * (pod-decoy.ts) and, with decoy.kubelet, the kubelet's writes replayed too (pod-decoy-kubelet.ts).
   */
  decoy?: Decoy;
}

export interface IdleWindow {
  seconds: number;
  agentCpuSeconds: number;
  /** Agent CPU as % of one core over the window. */
  pctCore: number;
  rssMiBEnd: number;
  /** % of one core in each minute of the window (the last part may be shorter). */
  pctCorePerMinute: number[];
  /** Agent CPU seconds in the window by thread name (main JS thread "node", libuv pool, V8 workers, tsx's loader). */
  threads: Record<string, number>;
  dockerCalls?: Record<string, number>;
  apiRequests: RequestCounts;
}

export interface AgentRun {
  pods: number;
  density: DensityResult;
  wall: WallSplit;
  usage: UsageSummary;
  cpuSeconds: Record<string, number>;
  dockerCalls?: DockerCallStats;
  apiRequests: RequestCounts;
  seenSource: SeenSource;
  idle?: IdleWindow;
  load1: [number, number];
  profiles?: Record<string, ProfileSummary & { file: string }>;
  /** Not serialised: the per-pod inputs of the split. */
  split: SplitInput;
}

/** tid → thread name and utime+stime ticks, from /proc/<pid>/task. */
function threadTicks(pid: number): Map<string, { comm: string; ticks: number }> {
  const out = new Map<string, { comm: string; ticks: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(tid, { comm, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // thread gone
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Agent CPU (and RSS at the end) over a quiet window, with the Docker and API calls made in it. */
export async function idleWindow(ctx: TrialCtx, seconds: number): Promise<IdleWindow> {
  ctx.proxy?.reset();
  const api0 = await scrapeRequestTotals(ctx.adminKubeconfig);
  const u0 = readProcUsage(ctx.agentPid);
  const th0 = threadTicks(ctx.agentPid);
  const t0 = performance.now();
  // The window's CPU per minute too: a container's memory settles for a while after its start, and
  // each move makes the collector read it in full.
  const perMinute: number[] = [];
  let last = u0?.cpuTicks ?? NaN;
  for (let left = seconds; left > 0; left -= 60) {
    const part = Math.min(60, left);
    await sleep(part * 1000);
    const now = readProcUsage(ctx.agentPid)?.cpuTicks ?? NaN;
    perMinute.push(round(((now - last) / clockTicks() / part) * 100, 2));
    last = now;
  }
  const u1 = readProcUsage(ctx.agentPid);
  const th1 = threadTicks(ctx.agentPid);
  const threads: Record<string, number> = {};
  for (const [tid, t] of th1) {
    const d = (t.ticks - (th0.get(tid)?.ticks ?? 0)) / clockTicks();
    const name = tid === String(ctx.agentPid) ? 'main (JS)' : `${t.comm} (other threads)`;
    if (d > 0) threads[name] = round((threads[name] ?? 0) + d, 2);
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = u0 && u1 ? (u1.cpuTicks - u0.cpuTicks) / clockTicks() : NaN;
  const calls = ctx.proxy?.snapshot();
  return {
    seconds: round(wall, 1),
    agentCpuSeconds: round(cpu, 2),
    pctCore: round((cpu / wall) * 100, 2),
    rssMiBEnd: round((u1?.rssKiB ?? NaN) / 1024, 1),
    pctCorePerMinute: perMinute,
    threads,
    ...(calls ? { dockerCalls: Object.fromEntries(Object.entries(calls.routes).map(([k, r]) => [k, r.count])) } : {}),
    apiRequests: diffCounts(api0, await scrapeRequestTotals(ctx.adminKubeconfig)),
  };
}

/**
 * Scales 0 → n, waits for all Running, splits the time per pod; then (optionally) settles and measures
 * an idle window; then drains (unless keep) and removes the exited containers.
 */
export async function agentRun(ctx: TrialCtx, n: number, o: { idleSeconds?: number; settleSeconds?: number; keep?: boolean; timeoutMs?: number; profile?: boolean }): Promise<AgentRun> {
  const prof = o.profile ? ctx.profiler : undefined;
  const profiles: NonNullable<AgentRun['profiles']> = {};
  const l0 = loadavg()[0]!;
  ctx.proxy?.reset();
  const api0 = await scrapeRequestTotals(ctx.adminKubeconfig);
  const sampler = new ProcSampler(ctx.agentPid);
  const cpu = new CpuWindow();
  cpu.start({ agent: [ctx.agentPid], '@': ctx.controlPlanePids, dockerd: pidsByComm(['dockerd']), containerd: pidsByComm(['containerd']), 'bench (watch, pass-through)': [process.pid] });
  await prof?.start();
  sampler.start(200);
  let density: DensityResult;
  let usage: UsageSummary;
  try {
    // Fail fast when the agent dies rather than waiting out the timeout.
    let timer: NodeJS.Timeout | undefined;
    const died = new Promise<never>((_, reject) => {
      timer = setInterval(() => { if (!ctx.agentAlive()) reject(new Error('the agent exited during the density run (see its log tail)')); }, 1000);
    });
    try {
      density = await Promise.race([runDensity(ctx, n, o.timeoutMs ?? 300_000), died]);
    } finally {
      clearInterval(timer);
    }
  } finally {
    usage = sampler.stop();
  }
  if (prof) profiles[`start-${n}`] = await prof.stop(`start-${n}`);
  const cpuSeconds = cpu.stop();
  const dockerCalls = ctx.proxy?.snapshot();
  const calls: Map<string, PodCallTimes> = ctx.proxy?.podCalls() ?? new Map();
  const apiRequests = diffCounts(api0, await scrapeRequestTotals(ctx.adminKubeconfig));
  const { source, seen } = await ctx.seen.times();
  const split: SplitInput = { t0: density.t0Ms, pods: densityPodTimes(ctx.watch), agentSeen: seen, calls };
  const wall = wallSplit(split, density.t0Ms + density.seconds * 1000);
  ctx.log(`${n} pods Running in ${density.seconds} s (last bound ${wall.lastBoundS} s, first Docker call ${wall.firstDockerCallS} s); agent peak RSS ${usage.peakRssMiB} MiB, CPU ${usage.cpuSeconds} s`);
  let idle: IdleWindow | undefined;
  if (o.idleSeconds) {
    await sleep((o.settleSeconds ?? 10) * 1000);
    ctx.log(`idle window: ${o.idleSeconds} s with ${n} pods`);
    await prof?.start();
    idle = await idleWindow(ctx, o.idleSeconds);
    if (prof) profiles[`idle-${n}`] = await prof.stop(`idle-${n}`);
    ctx.log(`idle with ${n} pods: agent ${idle.pctCore} % of a core (per minute ${idle.pctCorePerMinute.join(', ')}), RSS ${idle.rssMiBEnd} MiB; CPU s by thread ${JSON.stringify(idle.threads)}`);
  }
  if (!o.keep) {
    if (!(await drainDensity(ctx, 240_000))) ctx.log('the drain did not finish within 240 s');
    await ctx.removeContainers();
  }
  return { pods: n, density, wall, usage, cpuSeconds, ...(dockerCalls ? { dockerCalls } : {}), apiRequests, seenSource: source, ...(idle ? { idle } : {}), load1: [l0, loadavg()[0]!], ...(prof ? { profiles } : {}), split };
}

/**
 * What the control plane does during a raw-Docker run: 'kubelet', all it does in an agent run (the decoy
 * pods scheduled and the kubelet's writes for them replayed); 'scheduling', its own part only (the decoy
 * pods scheduled, pod-decoy.ts); 'idle', nothing.
 */
export type BaselineLoad = 'kubelet' | 'scheduling' | 'idle';

export type BaselineRun = BaselineResult & { load: BaselineLoad; cpu: Record<string, number>; load1: [number, number]; replay?: ReplayStats; apiRequests: RequestCounts };

/** A raw-Docker run to compare with: every pair made, and (with the kubelet load) every write replayed. */
export function usable(b: BaselineRun | undefined): b is BaselineRun {
  return b !== undefined && b.failures === 0 && (b.replay?.failures ?? 0) === 0;
}

/** One raw-Docker run of n pairs with the control plane doing `load`'s work for n decoy pods. */
export async function baselineRun(ctx: TrialCtx, n: number, parallelism: number, tag: string, load: BaselineLoad = 'idle'): Promise<BaselineRun> {
  const l0 = loadavg()[0]!;
  if (load !== 'idle' && !ctx.decoy) throw new Error(`raw-Docker run with load ${load} needs the decoy`);
  const kubelet = load === 'kubelet' ? ctx.decoy?.kubelet : undefined;
  if (load === 'kubelet' && !kubelet) throw new Error('raw-Docker run with the kubelet load needs the decoy kubelet');
  const api0 = await scrapeRequestTotals(ctx.adminKubeconfig);
  const cpu = new CpuWindow();
  const kubeletPid: Record<string, number[]> = kubelet ? { 'decoy kubelet (bench child)': [kubelet.pid] } : {};
  cpu.start({ dockerd: pidsByComm(['dockerd']), containerd: pidsByComm(['containerd']), 'bench (watch, pass-through)': [process.pid], 'control plane': ctx.controlPlanePids, ...kubeletPid });
  const template = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'bench-baseline', uid: 'x' }, spec: benchPodSpec() };
  const withLoad = load !== 'idle';
  kubelet?.beginRun();
  if (withLoad) await scaleDecoy(ctx, n);
  const b = await runBaseline(ctx.baselineDocker, { count: n, parallelism, pauseImage: PAUSE, image: BUSYBOX, dir: join(ctx.workDir, `baseline-${tag}`), template, ...(kubelet ? { hooks: kubelet } : {}) });
  // The replayed writes still in flight are load of this run too: its CPU window closes after them.
  const replay = kubelet ? await kubelet.finish(60_000) : undefined;
  const cpuSeconds = cpu.stop();
  const out: BaselineRun = { ...b, load, cpu: cpuSeconds, load1: [l0, loadavg()[0]!] as [number, number], ...(replay ? { replay } : {}), apiRequests: diffCounts(api0, await scrapeRequestTotals(ctx.adminKubeconfig)) };
  if (withLoad && !(await drainDecoy(ctx, 120_000))) ctx.log('the decoy pods were not all deleted within 120 s');
  await removeBaselineContainers(ctx.docker);
  const what = load === 'kubelet' ? ` (control plane busy with ${n} decoy pods and their kubelet writes: ${JSON.stringify(replay)})` : withLoad ? ` (control plane busy with ${n} decoy pods)` : '';
  ctx.log(`raw Docker${what}: ${n} pairs at parallelism ${parallelism} in ${b.seconds} s${b.failures ? ` (${b.failures} failed: ${b.firstError})` : ''}`);
  return out;
}

export interface Trial {
  trial: number;
  /**
   * docker: raw Docker with the bench's baseline load (--baseline-load: kubelet, else scheduling, else
   * idle when there is no decoy); docker-sched: with the scheduling load only (when docker has the
   * kubelet's); docker-idle: the control plane idle (when there is a decoy).
   */
  order: ('agent' | 'docker' | 'docker-sched' | 'docker-idle')[];
  agentS: number;
  dockerS: number;
  ratio: number;
  /** With the decoy kubelet: the raw-Docker run with the scheduling load only, and the ratio against it. */
  dockerSchedS?: number;
  ratioSched?: number;
  /** With a decoy: the raw-Docker run with the control plane idle, and the ratio against it. */
  dockerIdleS?: number;
  ratioIdle?: number;
  parallelism: number;
}

export interface TrialsResult {
  trials: Trial[];
  agentRuns: AgentRun[];
  baselines: BaselineRun[];
  /** With the decoy kubelet: the raw-Docker runs with the scheduling load only. */
  schedBaselines: BaselineRun[];
  /** With a decoy: the raw-Docker runs with the control plane idle. */
  idleBaselines: BaselineRun[];
  parallelism: number;
  parallelismSource: string;
}

/** The agent's Docker parallelism in a run: mean create/start calls in flight while any was. */
export function agentParallelism(r: AgentRun): number | undefined {
  const m = r.dockerCalls?.meanMutatingInFlight;
  return m && Number.isFinite(m) ? Math.max(1, Math.round(m)) : undefined;
}

/** trials × (agent run, raw-Docker run), order drawn per trial; the first agent run may carry an idle window. */
export async function pairedTrials(ctx: TrialCtx, o: { n: number; trials: number; parallelism?: number; firstIdleSeconds?: number; skipBaseline: boolean }): Promise<TrialsResult> {
  let parallelism = o.parallelism;
  let parallelismSource = parallelism !== undefined ? '--baseline-parallelism' : '';
  const out: TrialsResult = { trials: [], agentRuns: [], baselines: [], schedBaselines: [], idleBaselines: [], parallelism: parallelism ?? NaN, parallelismSource };
  const mainLoad: BaselineLoad = ctx.decoy?.kubelet ? 'kubelet' : ctx.decoy ? 'scheduling' : 'idle';
  for (let t = 1; t <= o.trials; t++) {
    // Shuffled order; while the parallelism is unknown the agent runs first (its run measures it).
    const raws: Trial['order'] = o.skipBaseline ? [] : ctx.decoy?.kubelet ? ['docker', 'docker-sched', 'docker-idle'] : ctx.decoy ? ['docker', 'docker-idle'] : ['docker'];
    const order: Trial['order'] = parallelism === undefined ? ['agent', ...shuffle(raws)] : shuffle(['agent', ...raws]);
    let a: AgentRun | undefined;
    let b: BaselineRun | undefined;
    let bSched: BaselineRun | undefined;
    let bIdle: BaselineRun | undefined;
    for (const who of order) {
      ctx.log(`trial ${t}/${o.trials}: ${who}`);
      if (who === 'agent') {
        const idleSeconds = out.agentRuns.length === 0 ? o.firstIdleSeconds : undefined;
        a = await agentRun(ctx, o.n, idleSeconds ? { idleSeconds, profile: true } : {});
        out.agentRuns.push(a);
        if (parallelism === undefined) {
          parallelism = agentParallelism(a) ?? 12;
          parallelismSource = agentParallelism(a) !== undefined ? `the agent's mean create/start calls in flight in trial ${t} (${a.dockerCalls?.meanMutatingInFlight.toFixed(1)})` : 'fallback 12 (no pass-through stats)';
        }
      } else if (who === 'docker') {
        b = await baselineRun(ctx, o.n, parallelism!, `t${t}`, mainLoad);
        out.baselines.push(b);
      } else if (who === 'docker-sched') {
        bSched = await baselineRun(ctx, o.n, parallelism!, `t${t}-sched`, 'scheduling');
        out.schedBaselines.push(bSched);
      } else {
        bIdle = await baselineRun(ctx, o.n, parallelism!, `t${t}-idle`, 'idle');
        out.idleBaselines.push(bIdle);
      }
      await sleep(2000);
    }
    const ratio = (x: BaselineRun | undefined) => (usable(x) ? round(a!.density.seconds / x.seconds) : NaN);
    out.trials.push({
      trial: t, order, agentS: a!.density.seconds, dockerS: b?.seconds ?? NaN, ratio: ratio(b),
      ...(bSched ? { dockerSchedS: bSched.seconds, ratioSched: ratio(bSched) } : {}),
      ...(bIdle ? { dockerIdleS: bIdle.seconds, ratioIdle: ratio(bIdle) } : {}), parallelism: parallelism!,
    });
  }
  out.parallelism = parallelism ?? NaN;
  out.parallelismSource = parallelismSource;
  return out;
}

function shuffle<T>(xs: T[]): T[] {
  const v = [...xs];
  for (let i = v.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
}

/** Median, min, max and the middle half of a list (nearest rank). */
export function spread(xs: number[]): { median: number; min: number; max: number; p25: number; p75: number; n: number; values: number[] } {
  const v = xs.filter(Number.isFinite);
  return {
    median: round(percentile(v, 50)), min: round(Math.min(...v)), max: round(Math.max(...v)),
    p25: round(percentile(v, 25)), p75: round(percentile(v, 75)), n: v.length, values: v.map((x) => round(x)),
  };
}
