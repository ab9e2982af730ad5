// The two measured phases of the pod-startup bench: (a) single pods one after another, (b) a
// Deployment scaled 0 → N on the node. Both observe Running through the bench's own admin watch.
import type Dockerode from 'dockerode';
import type { Pod } from '../../kube/api.js';
import type { KubeClient } from '../../kube/types.js';
import { dockerTimeline, dist, overlap, round, type PodDockerTimes } from './pod-timeline.js';
import type { PodWatch, PodTimes } from './pod-watch.js';

export const BUSYBOX = 'dockerlet/busybox:1.36';
export const PAUSE = 'registry.k8s.io/pause:3.10';

export interface PhaseCtx {
  admin: KubeClient;
  watch: PodWatch;
  docker: Dockerode;
  namespace: string;
  log(msg: string): void;
}

export function benchPodSpec(): Pod['spec'] {
  return {
    containers: [{ name: 'busybox', image: BUSYBOX, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }],
    terminationGracePeriodSeconds: 0,
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls Docker until none of the namespace's (or one pod's) containers runs; bounded. */
export async function waitNothingRunning(docker: Dockerode, namespace: string, uid: string | undefined, timeoutMs: number): Promise<boolean> {
  const label = [`io.kubernetes.pod.namespace=${namespace}`, ...(uid ? [`io.kubernetes.pod.uid=${uid}`] : [])];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const running = await docker.listContainers({ filters: { label, status: ['running'] } });
    if (running.length === 0) return true;
    await sleep(200);
  }
  return false;
}

export interface SinglePodSample {
  name: string;
  warmup: boolean;
  /** create request sent → Running seen (primary). */
  fromSentMs: number;
  /** creationTimestamp (second precision) → Running seen. */
  fromCreationTimestampMs: number;
  stages: Record<string, number>;
}

/** Stage durations (ms) from client and Docker timestamps. */
export function stagesOf(sentMs: number, t: PodTimes, d: PodDockerTimes | undefined): Record<string, number> {
  const s = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? b - a : NaN);
  return {
    'create→scheduled seen': s(sentMs, t.scheduledSeenMs),
    'scheduled seen→sandbox created': s(t.scheduledSeenMs, d?.sandboxCreatedMs),
    'sandbox created→started': s(d?.sandboxCreatedMs, d?.sandboxStartedMs),
    'sandbox started→app created': s(d?.sandboxStartedMs, d?.appCreatedMs),
    'app created→started': s(d?.appCreatedMs, d?.appStartedMs),
    'app started→Running seen': s(d?.appStartedMs, t.runningSeenMs),
    'scheduled seen→Running seen (on the node)': s(t.scheduledSeenMs, t.runningSeenMs),
  };
}

export async function runSinglePods(ctx: PhaseCtx, count: number, warmup: number): Promise<SinglePodSample[]> {
  const { admin, watch, docker, namespace } = ctx;
  const out: SinglePodSample[] = [];
  for (let i = 0; i < count + warmup; i++) {
    const name = `single-${i}`;
    const path = `/api/v1/namespaces/${namespace}/pods`;
    const sent = Date.now();
    const created = await admin.create<Pod>(path, { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels: { bench: 'single' } }, spec: benchPodSpec() });
    const uid = created.metadata.uid!;
    await watch.until(`${name} Running`, () => watch.running(uid), 60_000);
    const t = watch.times(uid)!;
    const d = (await dockerTimeline(docker, namespace, new Set([uid]))).get(uid);
    out.push({
      name, warmup: i < warmup,
      fromSentMs: t.runningSeenMs! - sent,
      fromCreationTimestampMs: t.runningSeenMs! - t.createdServerMs,
      stages: stagesOf(sent, t, d),
    });
    await admin.delete(`${path}/${name}`, { body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 } });
    await watch.until(`${name} deleted`, () => watch.deleted(uid), 30_000);
    if (!(await waitNothingRunning(docker, namespace, uid, 30_000))) ctx.log(`${name}: containers still running 30 s after deletion`);
    ctx.log(`${name}: ${(out[out.length - 1]!.fromSentMs / 1000).toFixed(3)} s${i < warmup ? ' (warm-up)' : ''}`);
  }
  return out;
}

export interface DensityResult {
  /** Epoch ms just before the scale request. */
  t0Ms: number;
  seconds: number;
  lastCreatedSeenS: number;
  lastScheduledSeenS: number;
  firstSandboxS: number;
  lastAppStartedS: number;
  /** Pods between sandbox created and app started (the agent's effective parallelism). */
  inFlight: { max: number; mean: number };
  /** Pods bound to the node but not yet Running as seen by the watch. */
  pendingOnNode: { max: number; mean: number };
  stages: Record<string, ReturnType<typeof dist>>;
  restarts: number;
  extraContainers: number;
}

const DEPLOY = 'density';

/** A Deployment of the bench's pod (labelled bench=<name>) at 0 replicas; spec overrides the pod spec. */
export async function createDeployment(ctx: PhaseCtx, name = DEPLOY, spec: Pod['spec'] = benchPodSpec()): Promise<void> {
  await ctx.admin.create(`/apis/apps/v1/namespaces/${ctx.namespace}/deployments`, {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: ctx.namespace },
    spec: {
      replicas: 0,
      selector: { matchLabels: { bench: name } },
      template: { metadata: { labels: { bench: name } }, spec },
    },
  });
}

export async function scaleDeployment(ctx: PhaseCtx, replicas: number, name = DEPLOY): Promise<void> {
  await ctx.admin.patch(`/apis/apps/v1/namespaces/${ctx.namespace}/deployments/${name}/scale`, { spec: { replicas } }, 'merge');
}

const densityPods = (w: PodWatch) => w.all().filter((t) => t.labels.bench === DEPLOY);

/** The density pods not (yet) deleted, with the watch's timestamps. */
export const densityPodTimes = (w: PodWatch): PodTimes[] => densityPods(w).filter((t) => t.deletedSeenMs === undefined);

/** Scales 0 → n and waits for n Running pods (bounded); t0 is taken just before the scale request. */
export async function runDensity(ctx: PhaseCtx, n: number, timeoutMs: number): Promise<DensityResult> {
  const t0 = Date.now();
  await scaleDeployment(ctx, n);
  await ctx.watch.until(`${n} pods Running`, () => densityPods(ctx.watch).filter((t) => t.runningSeenMs !== undefined && t.deletedSeenMs === undefined).length >= n, timeoutMs);
  const t1 = Date.now();
  const pods = densityPodTimes(ctx.watch);
  const dockerTimes = await dockerTimeline(ctx.docker, ctx.namespace, new Set(pods.map((p) => p.uid)));
  const s = (x: number) => round((x - t0) / 1000);
  const max = (xs: (number | undefined)[]) => Math.max(...xs.filter((x): x is number => x !== undefined));
  const min = (xs: (number | undefined)[]) => Math.min(...xs.filter((x): x is number => x !== undefined));
  const d = [...dockerTimes.values()];
  const stageLists: Record<string, number[]> = {};
  for (const p of pods) {
    const st = stagesOf(t0, p, dockerTimes.get(p.uid));
    for (const [k, v] of Object.entries(st)) (stageLists[k] ??= []).push(v);
  }
  delete stageLists['create→scheduled seen'];
  stageLists['scale→scheduled seen'] = pods.map((p) => (p.scheduledSeenMs ?? NaN) - t0);
  const inFlight = overlap(d.map((x) => [x.sandboxCreatedMs ?? NaN, x.appStartedMs ?? NaN]));
  const pending = overlap(pods.map((p) => [p.scheduledSeenMs ?? NaN, p.runningSeenMs ?? NaN]));
  return {
    t0Ms: t0,
    seconds: round((t1 - t0) / 1000),
    lastCreatedSeenS: s(max(pods.map((p) => p.firstSeenMs))),
    lastScheduledSeenS: s(max(pods.map((p) => p.scheduledSeenMs))),
    firstSandboxS: s(min(d.map((x) => x.sandboxCreatedMs))),
    lastAppStartedS: s(max(d.map((x) => x.appStartedMs))),
    inFlight: { max: inFlight.max, mean: round(inFlight.mean, 1) },
    pendingOnNode: { max: pending.max, mean: round(pending.mean, 1) },
    stages: Object.fromEntries(Object.entries(stageLists).map(([k, v]) => [k, dist(v)])),
    restarts: pods.reduce((a, p) => a + p.restarts, 0),
    extraContainers: d.reduce((a, x) => a + Math.max(0, x.containers - 2), 0),
  };
}

/** Scales to 0 and waits until the API has no density pods and Docker runs none of the namespace's containers. */
export async function drainDensity(ctx: PhaseCtx, timeoutMs: number): Promise<boolean> {
  await scaleDeployment(ctx, 0);
  const deadline = Date.now() + timeoutMs;
  try {
    await ctx.watch.until('density pods deleted', () => ctx.watch.pods().every((p) => p.metadata.labels?.bench !== DEPLOY), timeoutMs);
  } catch {
    return false;
  }
  return waitNothingRunning(ctx.docker, ctx.namespace, undefined, Math.max(1000, deadline - Date.now()));
}
