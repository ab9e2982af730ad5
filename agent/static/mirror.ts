// Mirror pods (kubelet mirror_client + podManager): for every static pod an API pod of the same name,
// annotated kubernetes.io/config.mirror=<config.hash> and owned by this Node, so the cluster sees it
// and the status manager has an object to write status to. A mirror with a stale hash or a deletion
// timestamp is deleted (grace 0) and recreated; mirrors of static pods that are gone are deleted.
// NodeRestriction only admits mirror pods that reference no service account, secret, config map, PVC
// or resource claim: such a static pod still runs, but gets no mirror (logged once, plus an Event).
import type { Pod } from '../../kube/api.js';
import { isAlreadyExists, isConflict, isNotFound } from '../../kube/errors.js';
import type { KubeClient } from '../../kube/types.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import type { Lifecycle } from '../../lib/lifecycle.js';
import { partLogger, type Logger } from '../../lib/log.js';
import type { EventSink } from '../pods/deps.js';
import type { StatusManager } from '../status/manager.js';
import { ANNOTATION_CONFIG_HASH, ANNOTATION_CONFIG_MIRROR } from './defaults.js';

/** True for an API pod that mirrors a static pod (the API pod source must not run these). */
export function isMirrorPod(pod: Pod): boolean {
  return pod.metadata.annotations?.[ANNOTATION_CONFIG_MIRROR] !== undefined;
}

/** The static pod's config hash (its UID unless the annotation says otherwise). */
export function staticPodHash(pod: Pod): string {
  return pod.metadata.annotations?.[ANNOTATION_CONFIG_HASH] ?? pod.metadata.uid ?? '';
}

/** Why NodeRestriction (and ServiceAccount admission) would refuse this pod's mirror, if it would. */
export function mirrorForbiddenReason(pod: Pod): string | undefined {
  const spec = pod.spec as Pod['spec'] & {
    serviceAccount?: string; imagePullSecrets?: { name: string }[]; resourceClaims?: unknown[];
  };
  const sa = spec.serviceAccountName || spec.serviceAccount;
  if (sa) return `it references service account ${JSON.stringify(sa)}`;
  if (spec.imagePullSecrets?.length) return `it references secret ${JSON.stringify(spec.imagePullSecrets[0]?.name)} (imagePullSecrets)`;
  if (spec.resourceClaims?.length) return 'it references resource claims';
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.secretKeyRef) return `container ${c.name} references secret ${JSON.stringify(e.valueFrom.secretKeyRef.name)} (env ${e.name})`;
      if (e.valueFrom?.configMapKeyRef) return `container ${c.name} references config map ${JSON.stringify(e.valueFrom.configMapKeyRef.name)} (env ${e.name})`;
    }
    for (const f of c.envFrom ?? []) {
      if (f.secretRef) return `container ${c.name} references secret ${JSON.stringify(f.secretRef.name)} (envFrom)`;
      if (f.configMapRef) return `container ${c.name} references config map ${JSON.stringify(f.configMapRef.name)} (envFrom)`;
    }
  }
  for (const v of spec.volumes ?? []) {
    if (v.secret) return `volume ${v.name} references secret ${JSON.stringify(v.secret.secretName)}`;
    if (v.configMap) return `volume ${v.name} references config map ${JSON.stringify(v.configMap.name)}`;
    if (v.persistentVolumeClaim) return `volume ${v.name} references persistent volume claim ${JSON.stringify(v.persistentVolumeClaim.claimName)}`;
    for (const s of v.projected?.sources ?? []) {
      const src = s as typeof s & { clusterTrustBundle?: unknown };
      if (src.secret) return `volume ${v.name} references secret ${JSON.stringify(src.secret.name)}`;
      if (src.configMap) return `volume ${v.name} references config map ${JSON.stringify(src.configMap.name)}`;
      if (src.serviceAccountToken) return `volume ${v.name} projects a service account token`;
      if (src.clusterTrustBundle) return `volume ${v.name} references a cluster trust bundle`;
    }
  }
  return undefined;
}

/** The mirror pod to POST for a static pod (mirror_client.go CreateMirrorPod). */
export function buildMirrorPod(staticPod: Pod, node: { name: string; uid: string }): Pod {
  const m = staticPod.metadata;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: m.name,
      namespace: m.namespace ?? 'default',
      ...(m.labels ? { labels: { ...m.labels } } : {}),
      annotations: { ...m.annotations, [ANNOTATION_CONFIG_MIRROR]: staticPodHash(staticPod) },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid, controller: true }],
    },
    spec: { ...structuredClone(staticPod.spec), nodeName: node.name },
  };
}

export interface MirrorPodManagerDeps {
  client: KubeClient;
  nodeName: string;
  /** The registered Node as last seen (its uid goes into the ownerReference); undefined before registration. */
  node: () => { uid?: string } | undefined;
  status: Pick<StatusManager, 'setTarget'>;
  /**
   * Where the periodic resync and trigger() get the static pods; default: the list last passed to
   * sync() (no periodic pass before the first sync()). Must not answer before the source's first scan.
   */
  staticPods?: () => Pod[];
  events?: EventSink;
  log?: Logger;
  clock?: Clock;
  /** Periodic resync (default 10 000 ms). */
  resyncMs?: number;
}

export interface MirrorRef {
  namespace: string;
  name: string;
  uid: string;
}

const DELETE_NOW = { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 };

export class MirrorPodManager implements Lifecycle {
  readonly #d: MirrorPodManagerDeps;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #resyncMs: number;
  /** static pod UID → its mirror in the API. */
  readonly #mirrors = new Map<string, MirrorRef>();
  /** static pod UID → the last problem reported for it (reported again only when it changes). */
  readonly #reported = new Map<string, string>();
  #last: Pod[] | undefined;
  #chain: Promise<void> = Promise.resolve();
  #abort = new AbortController();
  #wake: (() => void) | undefined;
  #triggered = false;
  #loop: Promise<void> | undefined;

  constructor(deps: MirrorPodManagerDeps) {
    this.#d = deps;
    this.#log = partLogger(deps.log, 'mirror-pods');
    this.#clock = deps.clock ?? systemClock;
    this.#resyncMs = deps.resyncMs ?? 10_000;
  }

  async start(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    signal.addEventListener('abort', () => void this.stop(), { once: true });
    this.#loop = this.#run(this.#abort.signal);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#triggered = true;
    this.#wake?.();
    await this.#loop;
    await this.#chain;
  }

  /** Asks the resync loop to run now (e.g. after a static pod change or Node registration). */
  trigger(): void {
    this.#triggered = true;
    this.#wake?.();
  }

  /** The mirror pod currently backing a static pod, if one exists. */
  mirrorFor(staticUid: string): MirrorRef | undefined {
    return this.#mirrors.get(staticUid);
  }

  /** Makes the API's mirror pods match staticPods (one pass; passes never overlap). */
  sync(staticPods: Pod[]): Promise<void> {
    this.#last = staticPods;
    const run = this.#chain.then(() => this.#syncOnce(staticPods));
    this.#chain = run.catch(() => {});
    return run;
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.#triggered = false;
      // Without a callback, wait for the first sync(list): an empty list would delete every mirror.
      const pods = this.#d.staticPods?.() ?? this.#last;
      if (pods) await this.sync(pods).catch((err) => this.#log.warn({ err }, 'mirror pod sync failed; will retry'));
      if (signal.aborted) break;
      if (this.#triggered) continue;
      await new Promise<void>((resolve) => {
        const t = this.#clock.setTimeout(done, this.#resyncMs);
        this.#wake = done;
        function done() {
          t.cancel();
          resolve();
        }
      });
      this.#wake = undefined;
    }
  }

  async #syncOnce(staticPods: Pod[]): Promise<void> {
    const nodeUid = this.#d.node()?.uid;
    if (!nodeUid) {
      this.#log.debug('node not registered yet; mirror pods wait');
      return;
    }
    const node = { name: this.#d.nodeName, uid: nodeUid };
    const list = await this.#d.client.list<Pod>('/api/v1/pods', { query: { fieldSelector: `spec.nodeName=${node.name}` } });
    const existing = new Map<string, Pod>();
    for (const p of list.items) if (isMirrorPod(p)) existing.set(`${p.metadata.namespace}/${p.metadata.name}`, p);

    const wanted = new Set<string>();
    const live = new Set<string>();
    for (const sp of staticPods) {
      const uid = sp.metadata.uid;
      if (!uid) continue;
      live.add(uid);
      const key = `${sp.metadata.namespace ?? 'default'}/${sp.metadata.name}`;
      const forbidden = mirrorForbiddenReason(sp);
      if (forbidden) {
        this.#report(sp, `mirror pod for static pod ${key} cannot be created: ${forbidden} (NodeRestriction forbids mirror pods that reference API objects); the static pod still runs`, 'MirrorPodForbidden');
        continue; // a stale mirror of it, if any, is deleted below as unwanted
      }
      wanted.add(key);
      try {
        const ref = await this.#ensure(sp, existing.get(key), node);
        if (ref) {
          this.#mirrors.set(uid, ref);
          this.#d.status.setTarget(uid, ref.name, ref.uid);
          this.#reported.delete(uid);
        }
      } catch (err) {
        this.#report(sp, `mirror pod for static pod ${key} could not be created: ${errorMessage(err)}`, 'FailedCreateMirrorPod');
      }
    }
    for (const uid of [...this.#mirrors.keys()]) if (!live.has(uid)) this.#mirrors.delete(uid);
    for (const uid of [...this.#reported.keys()]) if (!live.has(uid)) this.#reported.delete(uid);
    for (const [key, p] of existing) {
      if (wanted.has(key)) continue;
      this.#log.info({ pod: key }, 'deleting mirror pod of a static pod that no longer exists');
      await this.#delete(p).catch((err) => this.#log.warn({ pod: key, err }, 'deleting orphaned mirror pod failed'));
    }
  }

  /** Finds or (re)creates the mirror of one static pod; undefined when a non-mirror pod holds the name. */
  async #ensure(sp: Pod, current: Pod | undefined, node: { name: string; uid: string }): Promise<MirrorRef | undefined> {
    const hash = staticPodHash(sp);
    const key = `${sp.metadata.namespace ?? 'default'}/${sp.metadata.name}`;
    if (current && current.metadata.annotations?.[ANNOTATION_CONFIG_MIRROR] === hash && !current.metadata.deletionTimestamp) {
      return refOf(current);
    }
    if (current) {
      this.#log.info({ pod: key, reason: current.metadata.deletionTimestamp ? 'being deleted' : 'stale hash' }, 'replacing mirror pod');
      await this.#delete(current);
    }
    const body = buildMirrorPod(sp, node);
    const path = `/api/v1/namespaces/${body.metadata.namespace}/pods`;
    try {
      const created = await this.#d.client.create<Pod>(path, body);
      this.#log.info({ pod: key, uid: created.metadata.uid }, 'created mirror pod');
      return refOf(created);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const other = await this.#d.client.get<Pod>(`${path}/${body.metadata.name}`);
      if (isMirrorPod(other) && other.metadata.annotations?.[ANNOTATION_CONFIG_MIRROR] === hash && !other.metadata.deletionTimestamp) return refOf(other);
      if (!isMirrorPod(other)) throw new DockerletError(ErrorCodes.STATE, `a pod that is not a mirror pod already has the name ${key}`, { cause: err });
      this.#clock.setTimeout(() => this.trigger(), 1000);
      return undefined; // an old mirror still being removed: retry shortly
    }
  }

  async #delete(p: Pod): Promise<void> {
    const path = `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`;
    const body = { ...DELETE_NOW, preconditions: { uid: p.metadata.uid } };
    try {
      await this.#d.client.delete(path, { body });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err; // gone already, or replaced by another object
    }
  }

  #report(sp: Pod, message: string, reason: string): void {
    const uid = sp.metadata.uid!;
    if (this.#reported.get(uid) === message) return;
    this.#reported.set(uid, message);
    this.#log.warn({ pod: `${sp.metadata.namespace}/${sp.metadata.name}` }, message);
    this.#d.events?.event(
      { kind: 'Pod', apiVersion: 'v1', namespace: sp.metadata.namespace ?? 'default', name: sp.metadata.name!, uid },
      'Warning', reason, message,
    );
  }
}

function refOf(p: Pod): MirrorRef {
  return { namespace: p.metadata.namespace ?? 'default', name: p.metadata.name!, uid: p.metadata.uid! };
}
