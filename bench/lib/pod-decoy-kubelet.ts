// What a kubelet makes the control plane do for a pod it starts, replayed for the decoy pods while the
// raw-Docker arm runs: so that arm's control plane does all of an agent run's work, not only its own
// part (scheduling: pod-decoy.ts). On a real node the control plane runs on other machines; here it
// shares the 2 vCPUs with dockerd, and nice 19 does not keep it off them (pod-decoy.ts), so without
// this the control-plane CPU that any kubelet's writes cause (3.3 CPU-s per 100 pods, measured) counted
// against the agent's arm only.
//
// Per decoy pod, with the decoy Node's own credentials (the Node authorizer and NodeRestriction decide,
// as for the agent), using the agent's own request builders:
// - a pod watch on the node (fieldSelector spec.nodeName), as the agent's;
// - when its raw-Docker pair begins: the projected token's TokenRequest (agent/volumes/tokens.ts);
// - when the pair's app container has started: the Pulled, Created and Started Events
//   (kube/events.ts EventRecorder, the agent's messages) and the pod status patch to Running
//   (agent/status compute + patch, from the pair's real container ids).
// Pod i of the decoy (in the order the watch saw them bound) goes with the run's pair i. The raw-Docker
// run's time is still its Docker calls' (finish() waits outside it). It runs in a child process of its
// own (pod-decoy-kubelet-proc.ts), so its client work does not share the bench's event loop, which
// times the raw-Docker calls; its CPU is reported beside the arm's.
import type { Pod } from '../../kube/api.js';
import { EventRecorder } from '../../kube/events.js';
import { createInformer, type DockerletInformer } from '../../kube/informer.js';
import type { KubeClient } from '../../kube/types.js';
import { silentLogger } from '../../lib/log.js';
import { podRef } from '../../agent/pods/apply.js';
import { computePodStatus } from '../../agent/status/compute.js';
import { podStatusPatch } from '../../agent/status/patch.js';
import { requestToken } from '../../agent/volumes/tokens.js';
import type { ObservedContainer } from '../../runtime/types.js';

/** Pod and host IPs written to the API only (RFC 2544's benchmarking range: never routed anywhere). */
const HOST_IP = '198.18.0.1';
const podIP = (i: number) => `198.18.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;

export interface PairIds {
  sandboxId: string;
  appId: string;
}

export interface ReplayStats {
  pods: number;
  tokens: number;
  events: number;
  statusPatches: number;
  failures: number;
  firstError?: string;
}

/** One raw-Docker run's replay: its own pods, counters and abort (a late write never counts in the next run). */
interface RunState {
  stats: ReplayStats;
  order: Pod[];
  /** uids in order, and those of a previous run's pods. */
  seen: Set<string>;
  waiters: Map<number, ((p: Pod) => void)[]>;
  pending: Set<Promise<void>>;
  ac: AbortController;
}

/** Counters of a replay that has done nothing yet; `failures` 1 with a reason for one that could not run. */
export function replayStats(firstError?: string): ReplayStats {
  return { pods: 0, tokens: 0, events: 0, statusPatches: 0, failures: firstError ? 1 : 0, ...(firstError ? { firstError } : {}) };
}

function newRun(previous: Set<string>): RunState {
  return { stats: replayStats(), order: [], seen: previous, waiters: new Map(), pending: new Set(), ac: new AbortController() };
}

export class DecoyKubelet {
  readonly #client: KubeClient;
  readonly #inf: DockerletInformer<Pod>;
  readonly #events: EventRecorder;
  readonly #abort = new AbortController();
  readonly #imageRef: string;
  #run: RunState = newRun(new Set());

  /** imageRef: the app image's ref as the runtime reports it (runtime/docker/observe.ts imageRefFor). */
  constructor(client: KubeClient, node: string, imageRef: string) {
    this.#client = client;
    this.#imageRef = imageRef;
    this.#inf = createInformer<Pod>(client, { path: '/api/v1/pods', fieldSelector: `spec.nodeName=${node}` }, { log: silentLogger() });
    this.#events = new EventRecorder({ client, host: node, log: silentLogger() });
  }

  async start(): Promise<void> {
    this.#inf.on({ add: (p) => this.#seen(p), update: (_o, p) => this.#seen(p) });
    await this.#inf.start(this.#abort.signal);
    await this.#events.start(this.#abort.signal);
  }

  async stop(): Promise<void> {
    this.#run.ac.abort();
    this.#abort.abort();
    await this.#events.stop();
    await this.#inf.stop();
    this.#client.close();
  }

  /** A new run: pods already on the node (a previous run's, being deleted) are not replayed again. */
  beginRun(): void {
    this.#run.ac.abort();
    this.#run = newRun(new Set(this.#inf.list().map((p) => p.metadata.uid!)));
  }

  #seen(p: Pod): void {
    const run = this.#run;
    const uid = p.metadata.uid!;
    if (run.seen.has(uid) || p.metadata.deletionTimestamp) return;
    run.seen.add(uid);
    const i = run.order.push(p) - 1;
    for (const w of run.waiters.get(i) ?? []) w(p);
    run.waiters.delete(i);
  }

  #pod(run: RunState, i: number): Promise<Pod> {
    const p = run.order[i];
    if (p) return Promise.resolve(p);
    return new Promise((resolve) => run.waiters.set(i, [...(run.waiters.get(i) ?? []), resolve]));
  }

  #track(run: RunState, work: (live: () => boolean) => Promise<void>): void {
    const live = () => !run.ac.signal.aborted;
    const p: Promise<void> = work(live).catch((err: unknown) => {
      if (!live()) return;
      run.stats.failures++;
      run.stats.firstError ??= err instanceof Error ? err.message : String(err);
    }).finally(() => run.pending.delete(p));
    run.pending.add(p);
  }

  /** Pair i's sandbox is about to be created: the pod's token request (the agent sets volumes up first). */
  pairBegins(i: number): void {
    const run = this.#run;
    this.#track(run, async (live) => {
      const pod = await this.#pod(run, i);
      if (!live()) return;
      await requestToken(this.#client, pod, {});
      run.stats.tokens++;
    });
  }

  /** Pair i's app container has started: its Events and the pod's status patch to Running. */
  pairStarted(i: number, ids: PairIds): void {
    const run = this.#run;
    const startedAt = new Date().toISOString();
    this.#track(run, async (live) => {
      const pod = await this.#pod(run, i);
      if (!live()) return;
      const c = pod.spec.containers[0]!;
      const ref = podRef(pod, `spec.containers{${c.name}}`);
      this.#events.event(ref, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`);
      this.#events.event(ref, 'Normal', 'Created', `Created container: ${c.name}`);
      this.#events.event(ref, 'Normal', 'Started', `Started container ${c.name}`);
      run.stats.events += 3;
      if (await this.#patchRunning(pod, i, ids, startedAt)) run.stats.statusPatches++;
      run.stats.pods++;
    });
  }

  async #patchRunning(pod: Pod, i: number, ids: PairIds, startedAt: string): Promise<boolean> {
    const observed = (id: string, kind: 'sandbox' | 'container', name: string): ObservedContainer => ({
      id, dockerName: `k8s_${name}_${pod.metadata.name}`, state: 'running', image: pod.spec.containers[0]!.image ?? '', imageRef: this.#imageRef,
      createdAt: startedAt, startedAt, annotations: {}, podUid: pod.metadata.uid!, podName: pod.metadata.name!, podNamespace: pod.metadata.namespace!,
      containerName: name, kind, attempt: 0, restartCount: 0, specHash: '', ...(kind === 'sandbox' ? { ip: podIP(i) } : { sandboxId: ids.sandboxId }),
    });
    const sandbox = observed(ids.sandboxId, 'sandbox', 'POD');
    const app = observed(ids.appId, 'container', pod.spec.containers[0]!.name);
    const desired = computePodStatus({
      pod, observed: { sandbox, byName: new Map([[app.containerName, [app]]]), all: [sandbox, app] }, waiting: new Map(), messages: new Map(),
      hostIP: HOST_IP, qosClass: 'BestEffort', startTime: pod.status?.startTime ?? startedAt, now: startedAt, terminal: false,
    });
    const server = this.#inf.get(`${pod.metadata.namespace}/${pod.metadata.name}`) ?? pod;
    const patch = podStatusPatch(pod.metadata.uid!, server.status, desired);
    if (!patch) return false;
    await this.#client.patch(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, patch.body, 'strategic', { timeoutMs: 15_000 });
    return true;
  }

  /**
   * Waits (bounded) for the run's replayed writes and Events. On the timeout every replay still
   * outstanding (a pair whose pod never came, a write unanswered) is a failure, and the run is aborted.
   */
  async finish(timeoutMs: number): Promise<ReplayStats> {
    const run = this.#run;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); });
    const done = (async () => {
      while (run.pending.size) await Promise.all([...run.pending]);
      await this.#events.flush();
      return 'done' as const;
    })();
    const r = await Promise.race([done, timeout]);
    clearTimeout(timer);
    const stats = { ...run.stats };
    if (r === 'timeout') {
      stats.failures += Math.max(1, run.pending.size);
      stats.firstError ??= `replay not finished within ${timeoutMs} ms (${run.pending.size} outstanding, ${run.order.length} decoy pods seen)`;
    }
    run.ac.abort();
    return stats;
  }
}
