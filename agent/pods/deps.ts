// What the pod worker needs from the rest of the agent, as narrow interfaces (the controller wires
// the real implementations: runtime/docker, agent/spec, agent/volumes, agent/events, agent/status).
import type { EventSink as KubeEventSink } from '../../kube/events.js';
import type { ConfigMap, Container, Pod, Secret } from '../../kube/api.js';
import type { KubeClient } from '../../kube/types.js';
import type { Backoff } from '../../lib/backoff.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import type { ContainerCreateSpec, ContainerRuntime, Mount, SandboxSpec } from '../../runtime/types.js';
import type { ContainerSpecArgs } from '../containers/container.js';
import type { StatusManager } from '../status/manager.js';
import type { PodAdmitter } from './admission.js';
import type { ImageManager } from './images.js';
import type { RuntimeCache } from './relist.js';

export interface PreparedVolume {
  hostPath: string;
  readOnly?: boolean;
}

export interface Volumes {
  setup(pod: Pod): Promise<Map<string, PreparedVolume>>;
  mountsFor(pod: Pod, container: Container, prepared: Map<string, PreparedVolume>, env?: { name: string; value: string }[]): Mount[] | Promise<Mount[]>;
  refresh(pod: Pod): Promise<void>;
  teardown(podUid: string): Promise<void>;
}

export interface EnvSources {
  configMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
  secret(namespace: string, name: string): Promise<Secret | undefined>;
}

export interface NodeFacts {
  nodeName: string;
  hostIP: string;
  capacity: { cpuMillis: number; memoryBytes: number };
}

export interface SpecBuilders {
  specHash(container: Container): string;
  qosClass(pod: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort';
  resolveEnv(pod: Pod, container: Container, sources: EnvSources, node: NodeFacts & { podIP?: string }): Promise<{ name: string; value: string }[]>;
  containerSpec(args: ContainerSpecArgs): ContainerCreateSpec;
  sandboxSpec(pod: Pod, image: string, attempt: number): SandboxSpec;
}

/** The one event-sink interface (kube/events.ts). */
export type EventSink = KubeEventSink;

/** Container probes (agent/prober ProberManager). */
export interface Probes {
  syncPod(pod: Pod, running: { containerName: string; containerId: string; podIP?: string; startedAtMs: number }[]): void;
  removePod(uid: string): void;
  isStarted(uid: string, name: string, id: string): boolean;
  isReady(uid: string, name: string, id: string): boolean;
  /** Set when a liveness or startup probe failed: the container must be killed. */
  restartMessage(uid: string, name: string, id: string): string | undefined;
  /** Which probe asks for the kill (its terminationGracePeriodSeconds applies). */
  failedProbe?(uid: string, name: string, id: string): 'liveness' | 'startup' | undefined;
  /** Called with a pod UID when one of its probe results flips. */
  onChange?(cb: (podUid: string) => void): () => void;
}

/** Pod admission settings (kubelet maxPods, node allocatable, allowedUnsafeSysctls). */
export interface AdmissionConfig {
  /** Default 110. */
  maxPods?: number;
  /** Default: the node's capacity. */
  allocatable?: { cpuMillis: number; memoryBytes: number };
  allowedUnsafeSysctls?: readonly string[];
  /** Replaces the default chain (agent/pods/admission.ts defaultAdmitters). */
  admitters?: readonly PodAdmitter[];
}

/**
 * Bounds concurrent Docker creates/starts (agent/pods/slots.ts AdaptiveSlots, or a fixed lib/semaphore.ts
 * Semaphore); kind names the call ('sandbox', 'create', 'start') for an adaptive limit's latency baselines.
 */
export interface StartSlots {
  /** kind: calls of like cost; priority: a lower number is served first when calls wait (default 0). */
  run<T>(fn: () => Promise<T>, kind?: string, priority?: number): Promise<T>;
}

export interface WorkerDeps {
  runtime: ContainerRuntime;
  cache: RuntimeCache;
  images: ImageManager;
  volumes: Volumes;
  spec: SpecBuilders;
  envSources: EnvSources;
  events: EventSink;
  status: StatusManager;
  client?: KubeClient;
  node: NodeFacts;
  pauseImage: string;
  /** Where per-pod files live (termination-message files): <podsDir>/<uid>/… */
  podsDir: string;
  crashBackoff: Backoff;
  /** Bounds concurrent Docker creates/starts: Docker is fastest at low parallelism (bench/pod-startup). */
  startSlots: StartSlots;
  /**
   * Bounds concurrent sandbox stops (each tears down a network endpoint in dockerd), so a mass deletion
   * does not pile them up in dockerd: Docker 20.10's libnetwork has a lock-order deadlock between
   * container exits and its endpoint watch that heavy churn meets (a mitigation); unbounded when absent.
   */
  stopSlots?: { run<T>(fn: () => Promise<T>): Promise<T> };
  probes?: Probes;
  admission?: AdmissionConfig;
  /** The kubelet's clusterDNS; when given, a ClusterFirst pod on a node without one gets MissingClusterDNS Events. */
  clusterDNS?: readonly string[];
  clock: Clock;
  log: Logger;
}
