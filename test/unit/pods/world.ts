// A pod-worker world without Docker: the real worker, plan, states, image manager, spec builders and
// status writer, wired to runtime/fake.ts and a FakeClock (as Virtual Kubelet's node/lifecycle_test.go
// wires its pod controller to the mock provider). Volumes and events are recorded in memory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildContainerCreateSpec, buildSandboxSpec } from '../../../agent/containers/container.js';
import { resolveEnv } from '../../../agent/containers/env.js';
import { containerSpecHash } from '../../../agent/containers/hash.js';
import { qosClass } from '../../../agent/containers/qos.js';
import type { EventSink, PreparedVolume, Probes, Volumes, WorkerDeps } from '../../../agent/pods/deps.js';
import { ImageManager } from '../../../agent/pods/images.js';
import { RuntimeCache } from '../../../agent/pods/relist.js';
import type { PodRecord } from '../../../agent/pods/types.js';
import { PodWorker } from '../../../agent/pods/worker.js';
import { StatusManager } from '../../../agent/status/manager.js';
import type { Container, Pod } from '../../../kube/api.js';
import { Backoff } from '../../../lib/backoff.js';
import { FakeClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/log.js';
import { Semaphore } from '../../../lib/semaphore.js';
import { FakeRuntime } from '../../../runtime/fake.js';

export const IMAGE = 'dockerlet/busybox:1.36';
export const PAUSE = 'registry.k8s.io/pause:3.10';

export interface RecordedEvent {
  fieldPath?: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export class RecordingSink implements EventSink {
  readonly events: RecordedEvent[] = [];
  event(obj: { fieldPath?: string }, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.events.push({ fieldPath: obj.fieldPath, type, reason, message });
  }
  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }
  count(reason: string): number {
    return this.events.filter((e) => e.reason === reason).length;
  }
}

/** Volumes that prepare nothing; setup can be made to fail. */
export class MemoryVolumes implements Volumes {
  setupFailure: Error | undefined;
  readonly tornDown: string[] = [];
  async setup(): Promise<Map<string, PreparedVolume>> {
    if (this.setupFailure) throw this.setupFailure;
    return new Map();
  }
  mountsFor() {
    return [];
  }
  async refresh(): Promise<void> {}
  async teardown(uid: string): Promise<void> {
    this.tornDown.push(uid);
  }
}

export interface World {
  clock: FakeClock;
  runtime: FakeRuntime;
  events: RecordingSink;
  volumes: MemoryVolumes;
  status: StatusManager;
  deps: WorkerDeps;
  worker: PodWorker;
  close(): Promise<void>;
}

export async function world(opts: { probes?: Probes; events?: boolean } = {}): Promise<World> {
  const clock = new FakeClock(Date.parse('2026-12-04T12:00:00Z'));
  const runtime = new FakeRuntime({ clock, images: [IMAGE, PAUSE], events: opts.events });
  const events = new RecordingSink();
  const volumes = new MemoryVolumes();
  const status = new StatusManager({ log: silentLogger() });
  const podsDir = await mkdtemp(join(tmpdir(), 'dockerlet-pods-'));
  const log = silentLogger();
  const deps: WorkerDeps = {
    runtime,
    cache: new RuntimeCache(runtime),
    images: new ImageManager(runtime, clock, log),
    volumes,
    spec: {
      specHash: containerSpecHash,
      qosClass,
      resolveEnv,
      containerSpec: buildContainerCreateSpec,
      sandboxSpec: (pod, image, attempt) => buildSandboxSpec(pod, image, { attempt }),
    },
    envSources: { configMap: async () => undefined, secret: async () => undefined },
    events,
    status,
    node: { nodeName: 'node-a', hostIP: '192.0.2.10', capacity: { cpuMillis: 2000, memoryBytes: 4 << 30 } },
    pauseImage: PAUSE,
    podsDir,
    crashBackoff: new Backoff({ initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 }, clock),
    startSlots: new Semaphore(2),
    probes: opts.probes,
    clock,
    log,
  };
  return {
    clock, runtime, events, volumes, status, deps, worker: new PodWorker(deps),
    close: () => rm(podsDir, { recursive: true, force: true }),
  };
}

let seq = 0;

export function container(name: string, over: Partial<Container> = {}): Container {
  return { name, image: IMAGE, ...over };
}

/** An API pod bound to node-a with a fresh UID. */
export function apiPod(containers: Container[], spec: Partial<Pod['spec']> = {}, name = `p${++seq}`): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'ns', uid: `uid-${name}-${seq}`, resourceVersion: '1' },
    spec: { nodeName: 'node-a', containers, ...spec },
  };
}

export function recordOf(pod: Pod): PodRecord {
  return {
    uid: pod.metadata.uid!, key: `${pod.metadata.namespace}/${pod.metadata.name}`, pod, static: false,
    waiting: new Map(), removed: false, state: 'Registered',
  };
}

/** The same pod with deletion asked for (as the API server marks it). */
export function deleting(pod: Pod, graceSeconds = 30): Pod {
  return { ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2026-12-04T12:05:00Z', deletionGracePeriodSeconds: graceSeconds } };
}

/** Polls until cond() holds (bounded: fails after `tries` polls 2 ms apart, 5 s by default). */
export async function until(cond: () => boolean, what: string, tries = 2500): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}
