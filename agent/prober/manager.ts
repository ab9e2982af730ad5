// The prober manager (upstream prober_manager.go): one worker per (pod, container, probe type) for
// running containers that define probes; answers started/ready/liveness questions for the pod status
// and tells the pod controller (onChange) when a cached result flips.
// Lifecycle: probing begins with the first syncPod; start(signal) ties the manager's end to signal,
// stop() stops every worker and waits for probes in flight.
import type { Container, Pod, Probe } from '../../kube/api.js';
import type { EventSink } from '../../kube/events.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { linkAbort, type Lifecycle } from '../../lib/lifecycle.js';
import { partLogger, type Logger } from '../../lib/log.js';
import type { ContainerRuntime } from '../../runtime/types.js';
import { proberProbeTotal } from '../../metrics/agent-metrics.js';
import { createProbeRunner, type ProbeOutcome, type ProbeRunner } from './probe.js';
import { ResultsCache, type ProbeType, type ResultUpdate } from './results.js';
import { ProbeWorker, type WorkerContext } from './worker.js';

export interface RunningContainer {
  containerName: string;
  containerId: string;
  /** The pod IP (for hostNetwork pods the host IP; deps.hostIP is the fallback). */
  podIP?: string;
  /** When the container started (epoch ms): initialDelaySeconds counts from here. */
  startedAtMs: number;
}

export interface ProberManagerDeps {
  runtime: Pick<ContainerRuntime, 'exec'>;
  events: EventSink;
  clock?: Clock;
  log?: Logger;
  /** Probe target for hostNetwork pods when RunningContainer.podIP is absent. */
  hostIP?: string;
  /** Test seam: replaces the real httpGet/tcpSocket/exec runner. */
  runner?: ProbeRunner;
}

/** One prober_probe_total series (labels as upstream; deleted when its worker stops). */
export interface ProbeMetricSample {
  probeType: 'Readiness' | 'Liveness' | 'Startup';
  result: 'successful' | 'failed' | 'unknown';
  container: string;
  pod: string;
  namespace: string;
  podUid: string;
  count: number;
}

const PROBE_TYPES: readonly ProbeType[] = ['startup', 'liveness', 'readiness'];
const FIELD: Record<ProbeType, 'startupProbe' | 'livenessProbe' | 'readinessProbe'> = {
  startup: 'startupProbe', liveness: 'livenessProbe', readiness: 'readinessProbe',
};
const TITLE: Record<ProbeType, ProbeMetricSample['probeType']> = { startup: 'Startup', liveness: 'Liveness', readiness: 'Readiness' };

/** upstream kuberuntime minimumGracePeriodInSeconds: no kill is shorter. */
export const MINIMUM_KILL_GRACE_SECONDS = 2;

/**
 * The grace period of a kill for a failed liveness/startup probe (upstream setTerminationGracePeriod +
 * killContainer): the pod's deletion grace, else its terminationGracePeriodSeconds (30), replaced by
 * the failed probe's own terminationGracePeriodSeconds when set; never below 2 s.
 */
export function probeKillGraceSeconds(pod: Pod, container: Container, failed: 'liveness' | 'startup'): number {
  let grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
  const probe = failed === 'startup' ? container.startupProbe : container.livenessProbe;
  if (probe?.terminationGracePeriodSeconds !== undefined && probe.terminationGracePeriodSeconds !== null) grace = probe.terminationGracePeriodSeconds;
  return Math.max(MINIMUM_KILL_GRACE_SECONDS, grace);
}

/** The Killing event message the pod worker uses when it restarts a container for a failed probe. */
export function restartMessage(containerName: string, type: 'liveness' | 'startup'): string {
  return `Container ${containerName} failed ${type} probe, will be restarted`;
}

interface PodEntry {
  pod: Pod;
  deleting: boolean;
}

export class ProberManager implements Lifecycle {
  readonly #deps: ProberManagerDeps;
  readonly #clock: Clock;
  readonly #results = new ResultsCache();
  readonly #workers = new Map<string, ProbeWorker>();
  readonly #pods = new Map<string, PodEntry>();
  readonly #listeners = new Set<(podUid: string) => void>();
  readonly #metrics = new Map<string, ProbeMetricSample>();
  readonly #warned = new Set<string>();
  /** The workers' parent signal: aborted by stop() (or the signal given to start). */
  readonly #abort = new AbortController();
  readonly #log: Logger;
  #runner: ProbeRunner | undefined;
  #syncing: string | undefined;
  #unlink: (() => void) | undefined;
  #closed = false;

  constructor(deps: ProberManagerDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'prober');
    this.#results.subscribe((u) => this.#changed(u));
  }

  async start(signal: AbortSignal): Promise<void> {
    if (this.#closed || this.#unlink) return;
    this.#unlink = linkAbort(signal, () => {
      this.stop().catch((err: unknown) => this.#log.warn({ err }, 'prober failed to stop'));
    }).unlink;
  }

  /**
   * Starts workers for running containers of pod that define probes, replaces workers whose container
   * id changed and stops the rest. While the pod is being deleted only readiness keeps probing.
   * Result flips caused by this call itself (initial values) are not reported through onChange.
   */
  syncPod(pod: Pod, running: RunningContainer[]): void {
    const uid = pod.metadata.uid;
    if (!uid || this.#closed) return;
    const deleting = pod.metadata.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
    this.#pods.set(uid, { pod, deleting });
    const wanted = new Set<string>();
    this.#syncing = uid;
    try {
      for (const rc of running) {
        const container = specOf(pod, rc.containerName);
        if (!container) continue;
        const podIP = rc.podIP ?? (pod.spec.hostNetwork ? this.#deps.hostIP : undefined);
        for (const type of PROBE_TYPES) {
          const probe: Probe | undefined = container[FIELD[type]];
          if (!probe || (deleting && type !== 'readiness')) continue;
          const key = workerKey(uid, rc.containerName, type);
          wanted.add(key);
          const existing = this.#workers.get(key);
          if (existing && existing.containerId === rc.containerId) {
            existing.update(pod, container, podIP);
            continue;
          }
          if (existing) void this.#stopWorker(key, existing, false); // same series: counters survive restarts
          const w = new ProbeWorker(this.#context(uid, rc.containerName, rc.containerId), type, probe, {
            pod, container, containerId: rc.containerId, podIP, startedAtMs: rc.startedAtMs,
          });
          this.#workers.set(key, w);
          void w.start(this.#abort.signal);
        }
      }
      for (const [key, w] of this.#workers) if (w.podUid === uid && !wanted.has(key)) void this.#stopWorker(key, w);
    } finally {
      this.#syncing = undefined;
    }
  }

  /** Stops every worker of the pod and forgets its results. */
  removePod(uid: string): void {
    for (const [key, w] of this.#workers) if (w.podUid === uid) void this.#stopWorker(key, w);
    this.#results.removePod(uid);
    this.#pods.delete(uid);
  }

  /** upstream UpdatePodStatus "started": the startup probe succeeded, or the container has none. */
  isStarted(podUid: string, containerName: string, containerId: string): boolean {
    const r = this.#results.get(podUid, containerId, 'startup');
    if (r !== undefined) return r === 'success';
    if (this.#workers.has(workerKey(podUid, containerName, 'startup'))) return false; // for another container id
    const entry = this.#pods.get(podUid);
    if (!entry || entry.deleting) return true;
    return !specOf(entry.pod, containerName)?.startupProbe;
  }

  /** Started, and the readiness probe's cached result is success (no readiness probe: ready). */
  isReady(podUid: string, containerName: string, containerId: string): boolean {
    if (!this.isStarted(podUid, containerName, containerId)) return false;
    const r = this.#results.get(podUid, containerId, 'readiness');
    if (r !== undefined) return r === 'success';
    const entry = this.#pods.get(podUid);
    return !entry || !specOf(entry.pod, containerName)?.readinessProbe;
  }

  /** failureThreshold consecutive liveness failures for this container (until it is replaced). */
  livenessFailed(podUid: string, _containerName: string, containerId: string): boolean {
    return this.#results.get(podUid, containerId, 'liveness') === 'failure';
  }

  /** failureThreshold consecutive startup failures for this container (until it is replaced). */
  startupFailed(podUid: string, _containerName: string, containerId: string): boolean {
    return this.#results.get(podUid, containerId, 'startup') === 'failure';
  }

  /** Which probe says the container must be restarted (liveness first, as upstream's sync checks it first). */
  failedProbe(podUid: string, containerName: string, containerId: string): 'liveness' | 'startup' | undefined {
    if (this.livenessFailed(podUid, containerName, containerId)) return 'liveness';
    if (this.startupFailed(podUid, containerName, containerId)) return 'startup';
    return undefined;
  }

  /** Why the container must be killed and restarted (Killing event message), if a probe says so. */
  restartMessage(podUid: string, containerName: string, containerId: string): string | undefined {
    if (this.livenessFailed(podUid, containerName, containerId)) return restartMessage(containerName, 'liveness');
    if (this.startupFailed(podUid, containerName, containerId)) return restartMessage(containerName, 'startup');
    return undefined;
  }

  /** Calls cb(podUid) whenever a probe result of that pod flips; returns the unsubscribe function. */
  onChange(cb: (podUid: string) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  /** prober_probe_total series for live workers. */
  probeMetrics(): ProbeMetricSample[] {
    return [...this.#metrics.values()].map((m) => ({ ...m }));
  }

  /** Number of live workers (for tests and debugging). */
  workerCount(): number {
    return this.#workers.size;
  }

  /** Stops every worker and waits for probes in flight. Safe to call twice. */
  async stop(): Promise<void> {
    this.#closed = true;
    this.#unlink?.();
    const stopping = [...this.#workers].map(([key, w]) => this.#stopWorker(key, w));
    this.#abort.abort();
    this.#pods.clear();
    await Promise.all(stopping);
  }

  /** Stops a worker: its result and metrics go at once; the promise settles when its probe in flight ends. */
  #stopWorker(key: string, w: ProbeWorker, dropMetrics = true): Promise<void> {
    const stopped = w.stop();
    if (this.#workers.get(key) === w) this.#workers.delete(key);
    if (dropMetrics) {
      const prefix = `${w.type}|${w.podUid}|${w.target.container.name}|`;
      for (const [k, m] of this.#metrics) {
        if (!k.startsWith(prefix)) continue;
        this.#metrics.delete(k);
        proberProbeTotal.remove(promLabels(m));
      }
    }
    return stopped;
  }

  #context(podUid: string, containerName: string, containerId: string): WorkerContext {
    this.#runner ??= this.#deps.runner ?? createProbeRunner({ runtime: this.#deps.runtime });
    return {
      clock: this.#clock,
      runner: this.#runner,
      results: this.#results,
      isStarted: () => this.isStarted(podUid, containerName, containerId),
      report: (w, outcome) => this.#report(w, outcome),
      onError: (w, err) => this.#log.warn({ podUid, container: containerName, probe: w.type, err }, 'probe worker error'),
    };
  }

  #changed(u: ResultUpdate): void {
    if (u.probeType === 'startup' && u.result === 'success') {
      // upstream triggers the readiness probe as soon as the container counts as started
      for (const w of this.#workers.values()) if (w.type === 'readiness' && w.podUid === u.podUid && w.containerId === u.containerId) w.trigger();
    }
    if (this.#syncing === u.podUid) return;
    for (const cb of [...this.#listeners]) {
      try {
        cb(u.podUid);
      } catch (err) {
        this.#log.warn({ podUid: u.podUid, err }, 'probe change listener failed');
      }
    }
  }

  #report(w: ProbeWorker, outcome: ProbeOutcome): void {
    const { pod, container } = w.target;
    const title = TITLE[w.type];
    const log = { pod: `${pod.metadata.namespace}/${pod.metadata.name}`, container: container.name, probe: w.type };
    if (outcome.unsupported) {
      const key = workerKey(w.podUid, container.name, w.type);
      if (!this.#warned.has(key)) {
        this.#warned.add(key);
        this.#log.warn({ ...log, reason: outcome.output }, 'probe not supported; its result stays at the initial value');
      }
      return;
    }
    const ref = eventRef(pod, container.name);
    if (outcome.result === 'unknown') {
      this.#log.info({ ...log, output: outcome.output }, 'probe errored');
      this.#deps.events.event(ref, 'Warning', 'Unhealthy', `${title} probe errored and resulted in unknown state: ${outcome.output}`);
      return;
    }
    this.#count(w, outcome.result === 'success' ? 'successful' : 'failed');
    if (outcome.result === 'failure') {
      this.#log.info({ ...log, output: outcome.output }, 'probe failed');
      this.#deps.events.event(ref, 'Warning', 'Unhealthy', `${title} probe failed: ${outcome.output}`);
    } else if (outcome.warning) {
      this.#deps.events.event(ref, 'Warning', 'ProbeWarning', `${title} probe warning: ${outcome.output}`);
    }
  }

  #count(w: ProbeWorker, result: ProbeMetricSample['result']): void {
    const { pod, container } = w.target;
    const key = `${w.type}|${w.podUid}|${container.name}|${result}`;
    let m = this.#metrics.get(key);
    if (m) m.count++;
    else {
      m = {
        probeType: TITLE[w.type], result, container: container.name, pod: pod.metadata.name ?? '',
        namespace: pod.metadata.namespace ?? '', podUid: w.podUid, count: 1,
      };
      this.#metrics.set(key, m);
    }
    proberProbeTotal.inc(promLabels(m));
  }
}

/** The prober_probe_total label set of a series (upstream's label names). */
function promLabels(m: ProbeMetricSample) {
  return { probe_type: m.probeType, result: m.result, container: m.container, pod: m.pod, namespace: m.namespace, pod_uid: m.podUid };
}

function workerKey(uid: string, containerName: string, type: ProbeType): string {
  return `${uid}/${containerName}/${type}`;
}

/** App containers, then init containers (restartable sidecars may carry probes). */
function specOf(pod: Pod, name: string): Container | undefined {
  return pod.spec.containers.find((c) => c.name === name) ?? (pod.spec.initContainers ?? []).find((c) => c.name === name);
}

function eventRef(pod: Pod, containerName: string) {
  const init = (pod.spec.initContainers ?? []).some((c) => c.name === containerName) && !pod.spec.containers.some((c) => c.name === containerName);
  return {
    kind: 'Pod', apiVersion: 'v1', namespace: pod.metadata.namespace, name: pod.metadata.name ?? '', uid: pod.metadata.uid,
    fieldPath: `${init ? 'spec.initContainers' : 'spec.containers'}{${containerName}}`,
  };
}
