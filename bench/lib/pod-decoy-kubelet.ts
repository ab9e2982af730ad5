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
// Pod i of the decoy (in the order the watch saw them bound) goes with the run's pair i. The writes
// are load only: the raw-Docker run's time is still its Docker calls' (finish() waits outside it).
import type Dockerode from 'dockerode';
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
import { imageRefFor } from '../../runtime/docker/observe.js';

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

export class DecoyKubelet {
  readonly #client: KubeClient;
  readonly #inf: DockerletInformer<Pod>;
  readonly #events: EventRecorder;
  readonly #abort = new AbortController();
  #imageRef = '';
  /** Pods bound to the node in the order first seen, this run's only. */
  #order: Pod[] = [];
  #ignore = new Set<string>();
  #waiters = new Map<number, ((p: Pod) => void)[]>();
  #pending: Promise<void>[] = [];
  #stats: ReplayStats = { pods: 0, tokens: 0, events: 0, statusPatches: 0, failures: 0 };

  constructor(client: KubeClient, node: string) {
    this.#client = client;
    this.#inf = createInformer<Pod>(client, { path: '/api/v1/pods', fieldSelector: `spec.nodeName=${node}` }, { log: silentLogger() });
    this.#events = new EventRecorder({ client, host: node, log: silentLogger() });
  }

  async start(docker: Dockerode, image: string): Promise<void> {
    const info = await docker.getImage(image).inspect();
    this.#imageRef = imageRefFor(info.Id, info.RepoDigests);
    this.#inf.on({ add: (p) => this.#seen(p), update: (_o, p) => this.#seen(p) });
    await this.#inf.start(this.#abort.signal);
    await this.#events.start(this.#abort.signal);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#events.stop();
    await this.#inf.stop();
    this.#client.close();
  }

  /** A new run: pods already on the node (a previous run's, being deleted) are not replayed again. */
  beginRun(): void {
    this.#ignore = new Set(this.#inf.list().map((p) => p.metadata.uid!));
    this.#order = [];
    this.#waiters.clear();
    this.#pending = [];
    this.#stats = { pods: 0, tokens: 0, events: 0, statusPatches: 0, failures: 0 };
  }

  #seen(p: Pod): void {
    const uid = p.metadata.uid!;
    if (this.#ignore.has(uid) || p.metadata.deletionTimestamp || this.#order.some((q) => q.metadata.uid === uid)) return;
    const i = this.#order.push(p) - 1;
    for (const w of this.#waiters.get(i) ?? []) w(p);
    this.#waiters.delete(i);
  }

  #pod(i: number): Promise<Pod> {
    const p = this.#order[i];
    if (p) return Promise.resolve(p);
    return new Promise((resolve) => this.#waiters.set(i, [...(this.#waiters.get(i) ?? []), resolve]));
  }

  #track(what: Promise<void>): void {
    this.#pending.push(what.catch((err: unknown) => {
      this.#stats.failures++;
      this.#stats.firstError ??= err instanceof Error ? err.message : String(err);
    }));
  }

  /** Pair i's sandbox is about to be created: the pod's token request (the agent sets volumes up first). */
  pairBegins(i: number): void {
    this.#track((async () => {
      const pod = await this.#pod(i);
      await requestToken(this.#client, pod, {});
      this.#stats.tokens++;
    })());
  }

  /** Pair i's app container has started: its Events and the pod's status patch to Running. */
  pairStarted(i: number, ids: PairIds): void {
    const startedAt = new Date().toISOString();
    this.#track((async () => {
      const pod = await this.#pod(i);
      const c = pod.spec.containers[0]!;
      const ref = podRef(pod, `spec.containers{${c.name}}`);
      this.#events.event(ref, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`);
      this.#events.event(ref, 'Normal', 'Created', `Created container: ${c.name}`);
      this.#events.event(ref, 'Normal', 'Started', `Started container ${c.name}`);
      this.#stats.events += 3;
      await this.#patchRunning(pod, i, ids, startedAt);
      this.#stats.pods++;
    })());
  }

  async #patchRunning(pod: Pod, i: number, ids: PairIds, startedAt: string): Promise<void> {
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
    if (!patch) return;
    await this.#client.patch(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, patch.body, 'strategic', { timeoutMs: 15_000 });
    this.#stats.statusPatches++;
  }

  /** Waits (bounded) for the run's replayed writes; a pair whose pod never came is counted as failed. */
  async finish(timeoutMs: number): Promise<ReplayStats> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); });
    const done = Promise.all(this.#pending).then(() => this.#events.flush());
    const r = await Promise.race([done.then(() => 'done' as const), timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.#stats.failures += this.#waiters.size;
      this.#stats.firstError ??= `replay not finished within ${timeoutMs} ms (${this.#order.length} decoy pods seen)`;
    }
    this.#waiters.clear(); // replays still waiting for a pod that never came are dropped
    return { ...this.#stats };
  }
}
