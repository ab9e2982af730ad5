// The node's pod network (kubenet's job in the dockershim era): once the Node has spec.podCIDR
// (kube-controller-manager --allocate-node-cidrs), a Docker bridge network on it that new sandboxes
// join, and host-gw routes to the other nodes' podCIDRs with the NetworkUnavailable condition. Without
// a podCIDR nothing changes: sandboxes stay on Docker's default bridge. start() waits a little for the
// CIDR (kubenet kept the node NotReady until it came); a CIDR that arrives later switches new sandboxes.
import type Dockerode from 'dockerode';
import type { Node } from '../../kube/api.js';
import type { DockerletInformer } from '../../kube/informer.js';
import type { SharedInformers } from '../../kube/shared-informers.js';
import type { KubeClient } from '../../kube/types.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { delay, linkAbort, type Lifecycle } from '../../lib/lifecycle.js';
import { partLogger, type Logger } from '../../lib/log.js';
import { ensurePodBridge, type BridgeOptions } from './bridge.js';
import { systemHostNet, type HostNet } from './host.js';
import { nodePodCIDR, type PodNetworkPlan, type Route } from './plan.js';
import { networkCondition, patchNetworkCondition, syncRoutes } from './routes.js';

export interface PodNetworkDeps {
  docker: Dockerode;
  client: KubeClient;
  informers: SharedInformers;
  nodeName: string;
  host?: HostNet;
  clock?: Clock;
  log?: Logger;
}

export interface PodNetworkOptions extends BridgeOptions {
  /** How long start() waits at most for the Node's podCIDR before letting pods start on the default bridge (default 10 s). */
  waitForCidrMs?: number;
  /** A Node seen this long without a podCIDR ends the wait early (default 2 s): the cluster does not allocate. */
  noCidrGraceMs?: number;
  /** Route re-check period (flannel host-gw: 10 s). */
  resyncMs?: number;
  /** Keep routes to other nodes (default true). */
  routes?: boolean;
}

export class PodNetwork implements Lifecycle {
  readonly #d: PodNetworkDeps;
  readonly #o: PodNetworkOptions;
  readonly #host: HostNet;
  readonly #clock: Clock;
  readonly #log: Logger;
  #plan: PodNetworkPlan | undefined;
  #ensuring: Promise<void> | undefined;
  #ctl: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #off: (() => void) | undefined;
  #inf: DockerletInformer<Node> | undefined;
  #wake: (() => void) | undefined;
  #dirty = true;
  #routes: Route[] = [];
  #lastError: string | undefined;

  constructor(deps: PodNetworkDeps, opts: PodNetworkOptions = {}) {
    this.#d = deps;
    this.#o = opts;
    this.#host = deps.host ?? systemHostNet;
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'pod-network');
  }

  /** The Docker network new sandboxes join, or undefined (default bridge) while the node has no podCIDR. */
  name(): string | undefined {
    return this.#plan?.name;
  }

  /** The podCIDR in use, if any. */
  podCIDR(): string | undefined {
    return this.#plan?.subnet;
  }

  /** The host-gw routes last applied. */
  routes(): readonly Route[] {
    return this.#routes;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#ctl) return;
    const { controller } = linkAbort(signal);
    this.#ctl = controller;
    const inf = this.#d.informers.get<Node>({ path: '/api/v1/nodes' });
    this.#inf = inf;
    this.#off = inf.on({ add: () => this.#kick(), update: () => this.#kick(), delete: () => this.#kick() });
    const synced = inf.start(controller.signal);
    this.#loop = this.#run(controller.signal);
    // Bounded wait for the podCIDR, so the first sandboxes already land on the pod network. A Node that
    // exists without one for noCidrGraceMs is in a cluster that does not allocate: go on at once.
    const waitMs = this.#o.waitForCidrMs ?? 10_000;
    const grace = this.#o.noCidrGraceMs ?? 2_000;
    const deadline = this.#clock.now() + waitMs;
    await Promise.race([synced, delay(waitMs, controller.signal)]).catch(() => undefined);
    let seenWithout: number | undefined;
    while (!this.#plan && !controller.signal.aborted && this.#clock.now() < deadline) {
      const self = inf.list().find((n) => n.metadata.name === this.#d.nodeName);
      if (self && !nodePodCIDR(self)) {
        seenWithout ??= this.#clock.now();
        if (this.#clock.now() - seenWithout >= grace) break;
      }
      await delay(100, controller.signal);
    }
    this.#log.info({ network: this.name() ?? 'bridge (default)', podCIDR: this.podCIDR() }, 'pod network ready');
  }

  async stop(): Promise<void> {
    this.#ctl?.abort();
    this.#off?.();
    this.#wake?.();
    await this.#loop?.catch(() => undefined);
    await this.#inf?.stop();
    this.#ctl = undefined;
  }

  #kick(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  async #run(signal: AbortSignal): Promise<void> {
    const resync = this.#o.resyncMs ?? 10_000;
    let last = 0;
    while (!signal.aborted) {
      if (this.#dirty || this.#clock.now() - last >= resync) {
        this.#dirty = false;
        last = this.#clock.now();
        try {
          await this.#syncOnce();
          this.#lastError = undefined;
        } catch (err) {
          const msg = errorMessage(err);
          if (msg !== this.#lastError) this.#log.warn({ err }, 'pod network sync failed; retrying');
          this.#lastError = msg;
          this.#dirty = true;
        }
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, this.#dirty ? 1_000 : Math.min(resync, 1_000));
        this.#wake = done;
        function done() {
          clearTimeout(t);
          resolve();
        }
      });
      this.#wake = undefined;
    }
  }

  async #syncOnce(): Promise<void> {
    const nodes = this.#inf?.list() ?? [];
    const self = nodes.find((n) => n.metadata.name === this.#d.nodeName);
    const cidr = nodePodCIDR(self);
    if (!cidr) return; // not (yet) in pod-network mode
    if (!this.#plan || this.#plan.subnet !== cidr) {
      this.#ensuring ??= ensurePodBridge(this.#d.docker, this.#host, cidr, this.#o, this.#log).then((p) => {
        this.#plan = p;
      }).finally(() => {
        this.#ensuring = undefined;
      });
      try {
        await this.#ensuring;
      } catch (err) {
        // No pod network, no routes worth having: NetworkUnavailable=True keeps new pods off this node
        // (the node lifecycle controller taints it network-unavailable:NoSchedule) until it works.
        const cond = networkCondition(self, false, `pod network for ${cidr} could not be set up: ${errorMessage(err)}`.slice(0, 500), new Date(this.#clock.now()));
        if (cond) await patchNetworkCondition(this.#d.client, this.#d.nodeName, cond).catch((e: unknown) => this.#log.warn({ err: e }, 'cannot write NetworkUnavailable'));
        throw err;
      }
    }
    if (this.#o.routes === false) return;
    const r = await syncRoutes(this.#host, this.#d.nodeName, nodes);
    if (r.added + r.removed > 0 || r.errors.length > 0) {
      this.#log.info({ routes: r.routes, added: r.added, removed: r.removed, errors: r.errors }, 'routes to other nodes synced');
    }
    this.#routes = r.routes;
    const ok = r.errors.length === 0;
    const cond = networkCondition(self, ok, ok ? 'dockerlet created the routes to the other nodes' : r.errors.join('; ').slice(0, 500), new Date(this.#clock.now()));
    if (cond) await patchNetworkCondition(this.#d.client, this.#d.nodeName, cond);
    if (!ok) throw new DockerletError(ErrorCodes.RUNTIME, `routes to other nodes: ${r.errors.join('; ')}`);
  }
}
