// The node's own heartbeat: registers the Node, then every statusUpdateFrequency recomputes its status
// and PATCHes nodes/<name>/status when it changed or statusReportFrequency passed; the Lease renews
// alongside. stop() ends both and leaves the Node in place (the node-lifecycle controller marks it).
import type { Node, Taint } from '../../kube/api.js';
import type { EventSink } from '../../kube/events.js';
import { isNotFound } from '../../kube/errors.js';
import type { KubeClient } from '../../kube/types.js';
import { sleepFor, systemClock, type Clock } from '../../lib/clock.js';
import { KUBELET_VERSION } from '../../lib/version.js';
import type { Lifecycle } from '../../lib/lifecycle.js';
import { partLogger, type Logger } from '../../lib/log.js';
import type { ImageInfo } from '../../runtime/types.js';
import { readHostInfo, readPressureInputs, type HostInfo, type PressureInputs } from './hostinfo.js';
import { NodeLease } from './lease.js';
import { nodePath, patchNodeStatus, registerNode, type DesiredNode } from './register.js';
import {
  buildNodeStatus, conditionTransitions, nodeStatusChanged, observePressure, withTransitionPeriod,
  type EvictionThresholds, type NodeImage, type NodeStatus, type Pressure, type Reserved,
} from './status.js';

export const RUNTIME_DOWN = 'container runtime is down';
/** The longest wait between node status rounds after a failed one. */
const RETRY_MAX_MS = 5000;
/** How long start() waits for the node's registration before letting the agent go on without it. */
const REGISTER_WAIT_MS = 5000;

/** What the node controller needs from the container runtime. */
export interface NodeRuntime {
  /** Also the liveness ping: a rejection (or no answer within the timeout) means the runtime is down. */
  version(): Promise<{ version: string }>;
  listImages?(): Promise<ImageInfo[]>;
}

/** Where node events go: the one event-sink interface (kube/events.ts). */
export type NodeEventSink = EventSink;

export interface NodeControllerConfig {
  labels?: Record<string, string>;
  /** Registered with the Node at creation only. */
  taints?: Taint[];
  maxPods?: number;
  kubeletPort?: number;
  statusUpdateFrequencyMs?: number;
  statusReportFrequencyMs?: number;
  kubeletVersion?: string;
  kubeProxyVersion?: string;
  nodeIP?: string;
  hostname?: string;
  reserved?: Reserved;
  evictionHard?: EvictionThresholds;
  leaseDurationSeconds?: number;
  /** nodefs path (default /var/lib/docker, or /). */
  dockerRoot?: string;
  /** List images in status.images (default: when the runtime can list them). */
  reportImages?: boolean;
  /** How long a runtime version() call may take before the runtime counts as down (default 5 s). */
  runtimeTimeoutMs?: number;
}

export interface NodeControllerDeps {
  client: KubeClient;
  nodeName: string;
  runtime: NodeRuntime;
  config: NodeControllerConfig;
  clock?: Clock;
  log?: Logger;
  events?: NodeEventSink;
  /** Test seams; default readHostInfo / readPressureInputs on this host. */
  readHost?: () => Promise<HostInfo>;
  readPressure?: () => Promise<PressureInputs>;
}

export class NodeController implements Lifecycle {
  readonly #d: NodeControllerDeps;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #updateMs: number;
  readonly #reportMs: number;
  #lease: NodeLease | undefined;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #host: HostInfo | undefined;
  #hostReadAt = 0;
  #node: Node | undefined;
  #lastReport = 0;
  #ready = false;
  #pressureSeen: Partial<Record<keyof Pressure, number>> = {};

  constructor(deps: NodeControllerDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'node-controller');
    this.#updateMs = deps.config.statusUpdateFrequencyMs ?? 10_000;
    this.#reportMs = deps.config.statusReportFrequencyMs ?? 300_000;
  }

  /** The Node as last read from or written to the API. */
  node(): Node | undefined {
    return this.#node;
  }

  /** True once registered while the last computed status had Ready=True. */
  ready(): boolean {
    return this.#ready;
  }

  /** The lease heartbeat (defined after start). */
  lease(): NodeLease | undefined {
    return this.#lease;
  }

  /**
   * Registers the Node (retrying until it works or the signal aborts), then runs the lease and the status
   * loop. Waits for the registration at most REGISTER_WAIT_MS: a kubelet without an API server still runs
   * its static pods, so the rest of the agent starts and the registration goes on in the background.
   */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#abort) return;
    const ac = new AbortController();
    this.#abort = ac;
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) ac.abort();
    this.#emit('Normal', 'Starting', 'Starting kubelet.');
    let registered: () => void = () => {};
    const onRegistered = new Promise<'registered'>((resolve) => { registered = () => resolve('registered'); });
    const loop = (async () => {
      await this.#register(ac.signal);
      registered();
      const lease = new NodeLease({
        client: this.#d.client,
        nodeName: this.#d.nodeName,
        clock: this.#clock,
        log: this.#log,
        ...(this.#d.config.leaseDurationSeconds ? { leaseDurationSeconds: this.#d.config.leaseDurationSeconds } : {}),
        nodeUid: () => this.#node?.metadata.uid,
      });
      this.#lease = lease;
      await lease.start(ac.signal);
      await this.#run(ac.signal);
    })().finally(() => signal.removeEventListener('abort', onAbort));
    let timer: { cancel(): void } | undefined;
    const waited = new Promise<'waited'>((resolve) => { timer = this.#clock.setTimeout(() => resolve('waited'), REGISTER_WAIT_MS); });
    try {
      const first = await Promise.race([onRegistered, waited, loop.then(() => 'ended' as const)]);
      if (first === 'waited') this.#log.warn({ node: this.#d.nodeName }, 'node not registered yet (API server unreachable?); registering in the background, static pods run meanwhile');
    } catch (err) {
      this.#abort = undefined;
      throw err;
    } finally {
      timer?.cancel();
    }
    this.#loop = loop.catch((err: unknown) => {
      if (!ac.signal.aborted) this.#log.error({ node: this.#d.nodeName, err }, 'node registration failed');
    });
  }

  /** Stops the status loop and the lease. The Node object stays. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    await Promise.all([this.#loop, this.#lease?.stop()]);
    this.#ready = false;
  }

  /**
   * Every statusUpdateFrequency; after a failed round (API server away) sooner, 1 s doubling up to
   * RETRY_MAX_MS, so the truth replaces the node controller's Unknown as soon as the server is back.
   */
  async #run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const wait = failures === 0 ? this.#updateMs : Math.min(this.#updateMs, RETRY_MAX_MS, 1000 * 2 ** (failures - 1));
      await sleepFor(this.#clock, wait, signal);
      if (signal.aborted) break;
      try {
        await this.syncStatus(signal);
        failures = 0;
      } catch (err) {
        failures = Math.min(failures + 1, 10);
        if (!signal.aborted) this.#log.warn({ node: this.#d.nodeName, err }, 'node status update failed');
      }
    }
  }

  async #register(signal: AbortSignal): Promise<void> {
    const host = await this.#readHost(true);
    const [version, images] = await Promise.all([this.#runtimeVersion(), this.#images()]);
    const errors = version === undefined ? [RUNTIME_DOWN] : [];
    const pressure = await this.#pressure(host.pressure);
    const desired: DesiredNode = {
      name: this.#d.nodeName,
      hostname: this.#d.config.hostname ?? host.hostname,
      architecture: host.architecture,
      labels: this.#d.config.labels ?? {},
      taints: this.#d.config.taints ?? [],
      status: (existing) => this.#build(host, version, errors, pressure, images, existing),
    };
    const { node, previous } = await registerNode(this.#d.client, desired, { signal, clock: this.#clock, log: this.#log });
    this.#checkReboot(previous, host);
    this.#accept(node, previous?.status);
    this.#lastReport = this.#clock.now();
    this.#lease?.setNodeUid(node.metadata.uid ?? '');
  }

  /** One status round: read, compute, PATCH when changed or due. Exposed for tests. */
  async syncStatus(signal?: AbortSignal): Promise<void> {
    const now = this.#clock.now();
    const host = await this.#readHost(now - this.#hostReadAt >= this.#reportMs);
    const [version, images, inputs] = await Promise.all([
      this.#runtimeVersion(),
      this.#images(),
      (this.#d.readPressure ?? (() => readPressureInputs(this.#hostOpts())))(),
    ]);
    const errors = version === undefined ? [RUNTIME_DOWN] : [];
    const pressure = await this.#pressure(inputs);
    let current: Node;
    try {
      current = await this.#d.client.get<Node>(nodePath(this.#d.nodeName), signal ? { signal } : undefined);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.#log.warn({ node: this.#d.nodeName }, 'node object is gone; registering again');
      this.#node = undefined;
      await this.#register(signal ?? new AbortController().signal);
      return;
    }
    this.#checkReboot(current, host);
    const next = this.#build(host, version, errors, pressure, images, current);
    if (!nodeStatusChanged(current.status, next) && this.#clock.now() - this.#lastReport < this.#reportMs) {
      this.#node = current;
      return;
    }
    const updated = await patchNodeStatus(this.#d.client, this.#d.nodeName, next, signal);
    this.#lastReport = this.#clock.now();
    this.#accept(updated, current.status);
  }

  #accept(node: Node, before: NodeStatus | undefined): void {
    this.#node = node;
    const after = node.status;
    const readyCond = after?.conditions?.find((c) => c.type === 'Ready');
    this.#ready = readyCond?.status === 'True';
    if (!after) return;
    for (const t of conditionTransitions(before, after)) {
      this.#emit('Normal', t.eventReason, `Node ${this.#d.nodeName} status is now: ${t.eventReason}`);
    }
  }

  #checkReboot(previous: Node | undefined, host: HostInfo): void {
    const prevBoot = previous?.status?.nodeInfo?.bootID;
    if (prevBoot && host.bootID && prevBoot !== host.bootID) {
      this.#emit('Warning', 'Rebooted', `Node ${this.#d.nodeName} has been rebooted, boot id: ${host.bootID}`);
    }
  }

  #build(
    host: HostInfo, version: string | undefined, errors: string[], pressure: Pressure, images: NodeImage[] | undefined,
    previous: Node | undefined,
  ): NodeStatus {
    const c = this.#d.config;
    const status = buildNodeStatus({
      host,
      ...(version !== undefined ? { runtimeVersion: version } : {}),
      runtimeErrors: errors,
      kubeletVersion: c.kubeletVersion ?? KUBELET_VERSION,
      ...(c.kubeProxyVersion ? { kubeProxyVersion: c.kubeProxyVersion } : {}),
      maxPods: c.maxPods ?? 110,
      ...(c.reserved ? { reserved: c.reserved } : {}),
      ...(c.evictionHard ? { evictionHard: c.evictionHard } : {}),
      port: c.kubeletPort ?? 10250,
      pressure,
      now: this.#clock.now(),
      ...(previous ? { previous } : {}),
      ...(c.nodeIP ? { nodeIP: c.nodeIP } : {}),
      ...(c.hostname ? { hostname: c.hostname } : {}),
      ...(images ? { images } : {}),
    });
    this.#ready = status.conditions?.find((x) => x.type === 'Ready')?.status === 'True';
    return status;
  }

  #hostOpts(): { dockerRoot?: string } {
    return this.#d.config.dockerRoot ? { dockerRoot: this.#d.config.dockerRoot } : {};
  }

  async #readHost(refresh: boolean): Promise<HostInfo> {
    if (!this.#host || refresh) {
      this.#host = await (this.#d.readHost ?? (() => readHostInfo(undefined, this.#hostOpts())))();
      this.#hostReadAt = this.#clock.now();
    }
    return this.#host;
  }

  async #pressure(inputs: PressureInputs): Promise<Pressure> {
    const observed = observePressure(inputs, this.#d.config.evictionHard);
    return withTransitionPeriod(observed, this.#pressureSeen, this.#clock.now());
  }

  /** The runtime's version, or undefined when it does not answer in time. */
  async #runtimeVersion(): Promise<string | undefined> {
    const timeoutMs = this.#d.config.runtimeTimeoutMs ?? 5000;
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<undefined>((resolve) => { timer = this.#clock.setTimeout(() => resolve(undefined), timeoutMs); });
    try {
      const v = await Promise.race([this.#d.runtime.version().then((r) => r.version), timeout]);
      if (v === undefined) this.#log.warn({ node: this.#d.nodeName, timeoutMs }, 'container runtime did not answer');
      return v;
    } catch (err) {
      this.#log.warn({ node: this.#d.nodeName, err }, 'container runtime is down');
      return undefined;
    } finally {
      timer?.cancel();
    }
  }

  async #images(): Promise<NodeImage[] | undefined> {
    const rt = this.#d.runtime;
    if (this.#d.config.reportImages === false || !rt.listImages) return undefined;
    try {
      const list = await rt.listImages();
      return list.map((i) => {
        const names = [...i.repoDigests, ...i.repoTags].filter((n) => n && !n.includes('<none>'));
        return i.sizeBytes === undefined ? { names } : { names, sizeBytes: i.sizeBytes };
      });
    } catch {
      return undefined;
    }
  }

  #emit(type: 'Normal' | 'Warning', reason: string, message: string): void {
    const name = this.#d.nodeName;
    this.#d.events?.event({ kind: 'Node', name, uid: name, namespace: '' }, type, reason, message);
  }
}
