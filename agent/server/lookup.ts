// PodLookup over Docker labels (io.kubernetes.pod.{namespace,name,uid}, io.kubernetes.container.name):
// which Docker container serves /containerLogs, /exec, /attach and /portForward for a pod's
// container. Follows the kubelet's GetPodByName + validateContainerLogStatus
// (pkg/kubelet/kubelet_pods.go): the current instance, or with previous=true the last terminated
// one (LastTerminationState), and upstream's messages for a pod, container or instance not found.
import type { Container, ContainerStatus, Pod, PodStatus } from '../../kube/api.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { ObservedContainer } from '../../runtime/types.js';
import type { ContainerRef, PodLookup, ResolvedContainer, ResolvedSandbox } from './types.js';

/** A pod the agent runs, as the pod controller holds it (PodRecord's shape). */
export interface KnownPod {
  uid: string;
  pod: Pod;
}

export interface LookupDeps {
  /** Every managed container (running or not); DockerRuntime.listManaged. */
  listContainers(): Promise<ObservedContainer[]>;
  /** The pods the agent runs (desired set); when absent only Docker labels are consulted. */
  pods?(): readonly KnownPod[];
  /** The status the agent computed for a pod (StatusManager.get). */
  status?(uid: string): PodStatus | undefined;
  /** Whether a Docker container has a TTY, when the pod spec does not say (logs of adopted pods). */
  tty?(containerId: string): Promise<boolean>;
}

const notFoundPod = (pod: string) => new DockerletError(ErrorCodes.POD_NOT_FOUND, `pod ${JSON.stringify(pod)} does not exist`, { details: { pod } });
const notFoundContainer = (c: string, pod: string) =>
  new DockerletError(ErrorCodes.CONTAINER_NOT_FOUND, `container ${JSON.stringify(c)} not found in pod ${JSON.stringify(pod)}`, { details: { pod, container: c } });
const notRunning = (msg: string, pod: string, c: string) => new DockerletError(ErrorCodes.CONTAINER_NOT_RUNNING, msg, { details: { pod, container: c } });

function newestFirst(a: ObservedContainer, b: ObservedContainer): number {
  return b.attempt - a.attempt || b.restartCount - a.restartCount || b.createdAt.localeCompare(a.createdAt);
}

/** The Docker id inside a status containerID (docker://<id>). */
export function dockerIdOf(containerID: string | undefined): string | undefined {
  if (!containerID) return undefined;
  const i = containerID.indexOf('://');
  return i >= 0 ? containerID.slice(i + 3) : containerID;
}

function specOf(pod: Pod, name: string): Container | undefined {
  const ephemeral = (pod.spec as { ephemeralContainers?: Container[] }).ephemeralContainers ?? [];
  return [...pod.spec.containers, ...(pod.spec.initContainers ?? []), ...ephemeral].find((c) => c.name === name);
}

function statusOf(status: PodStatus | undefined, name: string): ContainerStatus | undefined {
  if (!status) return undefined;
  const extra = (status as { ephemeralContainerStatuses?: ContainerStatus[] }).ephemeralContainerStatuses ?? [];
  return [...(status.containerStatuses ?? []), ...(status.initContainerStatuses ?? []), ...extra].find((s) => s.name === name);
}

/** What a waiting container says (validateContainerLogStatus's common pending failures). */
function waitingMessage(c: string, pod: string, reason: string | undefined): string {
  const q = JSON.stringify;
  if (reason === 'ErrImagePull') return `container ${q(c)} in pod ${q(pod)} is waiting to start: image can't be pulled`;
  if (reason === 'ImagePullBackOff') return `container ${q(c)} in pod ${q(pod)} is waiting to start: trying and failing to pull image`;
  if (reason) return `container ${q(c)} in pod ${q(pod)} is waiting to start: ${reason}`;
  return `container ${q(c)} in pod ${q(pod)} is waiting to start - no logs yet`;
}

/**
 * The container id validateContainerLogStatus picks from a status, or an Error text; undefined when
 * the status has no entry for the container (the caller then falls back to Docker's instances).
 */
export function pickFromStatus(cs: ContainerStatus, pod: string, previous: boolean): { id: string } | { error: string } {
  const q = JSON.stringify;
  const c = cs.name;
  const last = cs.lastState?.terminated;
  const st = cs.state ?? {};
  const lastId = dockerIdOf(last?.containerID);
  if (previous) return lastId ? { id: lastId } : { error: `previous terminated container ${q(c)} in pod ${q(pod)} not found` };
  if (st.running) {
    const id = dockerIdOf(cs.containerID);
    return id ? { id } : { error: waitingMessage(c, pod, undefined) };
  }
  if (st.terminated) {
    const id = dockerIdOf(st.terminated.containerID) ?? dockerIdOf(cs.containerID) ?? lastId;
    return id ? { id } : { error: `container ${q(c)} in pod ${q(pod)} is terminated` };
  }
  if (last) return lastId ? { id: lastId } : { error: `container ${q(c)} in pod ${q(pod)} is terminated` };
  return { error: waitingMessage(c, pod, st.waiting?.reason) };
}

/**
 * Without a status: the newest instance that ever started; previous = the newest exited instance
 * other than a running/created current one (a crash-looping container's last run is its previous).
 */
export function pickFromInstances(instances: ObservedContainer[], c: string, pod: string, previous: boolean): ObservedContainer | string {
  const q = JSON.stringify;
  const started = instances.filter((i) => i.state !== 'created' || i.startedAt);
  if (previous) {
    const current = instances[0];
    const pool = current && (current.state === 'running' || current.state === 'created') ? instances.slice(1) : instances;
    const prev = pool.find((i) => i.state === 'exited' || i.state === 'dead');
    return prev ?? `previous terminated container ${q(c)} in pod ${q(pod)} not found`;
  }
  return started[0] ?? waitingMessage(c, pod, undefined);
}

export class DockerPodLookup implements PodLookup {
  readonly #deps: LookupDeps;

  constructor(deps: LookupDeps) {
    this.#deps = deps;
  }

  /** The pod the agent knows under namespace/name (and uid), and the Docker containers of it. */
  async #pod(namespace: string, name: string, uid?: string): Promise<{ known?: KnownPod; uid: string; containers: ObservedContainer[] }> {
    const matches = (p: Pod) => p.metadata.namespace === namespace && p.metadata.name === name;
    const known = this.#deps.pods?.().find((k) => matches(k.pod) && (!uid || k.uid === uid || k.pod.metadata.uid === uid));
    const all = (await this.#deps.listContainers()).filter((c) => c.podNamespace === namespace && c.podName === name);
    let podUid = known?.uid ?? uid;
    if (!podUid) {
      // No record: the newest pod (by its newest container) of that name on this node.
      const newest = [...all].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
      if (!newest) throw notFoundPod(name);
      podUid = newest.podUid;
    }
    const containers = all.filter((c) => c.podUid === podUid);
    if (!known && containers.length === 0) throw notFoundPod(name);
    return { ...(known ? { known } : {}), uid: podUid, containers };
  }

  async container(ref: ContainerRef, opts: { previous?: boolean } = {}): Promise<ResolvedContainer> {
    const previous = opts.previous ?? false;
    const { known, uid, containers } = await this.#pod(ref.namespace, ref.pod, ref.uid);
    const spec = known ? specOf(known.pod, ref.container) : undefined;
    const instances = containers.filter((c) => c.kind !== 'sandbox' && c.containerName === ref.container).sort(newestFirst);
    if (known && !spec) throw notFoundContainer(ref.container, ref.pod);
    if (!known && instances.length === 0) throw notFoundContainer(ref.container, ref.pod);

    let chosen: ObservedContainer | undefined;
    const cs = statusOf(this.#deps.status?.(uid) ?? known?.pod.status, ref.container);
    if (cs) {
      const pick = pickFromStatus(cs, ref.pod, previous);
      if ('error' in pick) throw notRunning(pick.error, ref.pod, ref.container);
      chosen = instances.find((i) => i.id === pick.id || i.id.startsWith(pick.id));
      // The status may lag Docker by a sync: a fresher instance than the one it names wins.
      if (!chosen) {
        const fallback = pickFromInstances(instances, ref.container, ref.pod, previous);
        if (typeof fallback === 'string') throw notRunning(previous ? fallback : `container ${JSON.stringify(ref.container)} in pod ${JSON.stringify(ref.pod)} is not available`, ref.pod, ref.container);
        chosen = fallback;
      }
    } else {
      const pick = pickFromInstances(instances, ref.container, ref.pod, previous);
      if (typeof pick === 'string') throw notRunning(pick, ref.pod, ref.container);
      chosen = pick;
    }
    const tty = spec?.tty ?? (this.#deps.tty ? await this.#deps.tty(chosen.id).catch(() => false) : false);
    return {
      namespace: ref.namespace,
      pod: ref.pod,
      podUid: uid,
      container: ref.container,
      containerId: chosen.id,
      running: chosen.state === 'running',
      tty,
    };
  }

  async sandbox(namespace: string, pod: string, uid?: string): Promise<ResolvedSandbox> {
    const found = await this.#pod(namespace, pod, uid);
    const sandboxes = found.containers.filter((c) => c.kind === 'sandbox').sort(newestFirst);
    const sb = sandboxes.find((s) => s.state === 'running') ?? sandboxes[0];
    if (!sb) throw notRunning(`pod ${JSON.stringify(pod)} has no sandbox yet`, pod, 'POD');
    const running = sb.state === 'running';
    if (!running) throw notRunning(`pod ${JSON.stringify(pod)} is not running`, pod, 'POD');
    return {
      namespace,
      pod,
      podUid: found.uid,
      sandboxId: sb.id,
      ...(sb.pid ? { pid: sb.pid } : {}),
      ...(sb.ip ? { ip: sb.ip } : {}),
    };
  }
}
