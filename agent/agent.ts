// The agent (kubelet half): wires the runtime, pod sources, pod controller, status writer, node
// controller, events and volumes from one frozen config. Standalone when no kubeconfig is given.
import { join } from 'node:path';
import type { Config } from '../cli/config.js';
import { kubeFor } from '../cli/kube-shared.js';
import { KUBELET_VERSION } from '../cli/version.js';
import type { Pod } from '../kube/api.js';
import type { KubeClient } from '../kube/types.js';
import { Backoff } from '../lib/backoff.js';
import { systemClock } from '../lib/clock.js';
import { Semaphore } from '../lib/semaphore.js';
import type { Service } from '../lib/lifecycle.js';
import type { Logger } from '../lib/log.js';
import { DockerRuntime } from '../runtime/docker/runtime.js';
import { EventRecorder } from './events/recorder.js';
import { readHostInfo } from './node/hostinfo.js';
import { NodeController } from './node/controller.js';
import { ProberManager } from './prober/manager.js';
import { PodController, type PodSource } from './pods/controller.js';
import type { EnvSources, WorkerDeps } from './pods/deps.js';
import { ImageManager } from './pods/images.js';
import { RuntimeCache } from './pods/relist.js';
import { buildContainerCreateSpec, buildSandboxSpec } from './spec/container.js';
import { readHostResolvConf } from './spec/dns.js';
import { envMap, resolveEnv } from './spec/env.js';
import { containerSpecHash } from './spec/hash.js';
import { qosClass } from './spec/qos.js';
import { kubeEnvSources } from './spec/sources.js';
import { MirrorPodManager, isMirrorPod } from './static/mirror.js';
import { StaticPodSource } from './static/source.js';
import { StatusManager } from './status/manager.js';
import { VolumeManager } from './volumes/manager.js';

const noEnvSources: EnvSources = { configMap: async () => undefined, secret: async () => undefined };

/** The API pod source: this node's pods, mirror pods excluded (their static pods run them). */
function apiSource(client: ReturnType<typeof kubeFor>, nodeName: string): PodSource {
  const inf = client.informers.get<Pod>({ path: '/api/v1/pods', fieldSelector: `spec.nodeName=${nodeName}` });
  return {
    name: 'api',
    on: (h) => inf.on({
      add: (p) => { if (!isMirrorPod(p)) h.add?.(p); },
      update: (o, n) => { if (!isMirrorPod(n)) h.update?.(o, n); },
      delete: (p) => { if (!isMirrorPod(p)) h.delete?.(p); },
    }),
    start: (s) => inf.start(s),
    list: () => inf.list().filter((p) => !isMirrorPod(p)),
  };
}

export class Agent implements Service {
  readonly #config: Config;
  readonly #log: Logger;
  #parts: Service[] = [];
  #pods: PodController | undefined;
  #node: NodeController | undefined;

  constructor(config: Config, log: Logger) {
    this.#config = config;
    this.#log = log;
  }

  podController(): PodController | undefined {
    return this.#pods;
  }

  nodeController(): NodeController | undefined {
    return this.#node;
  }

  async start(signal: AbortSignal): Promise<void> {
    const cfg = this.#config;
    const log = this.#log.child({ component: 'agent', node: cfg.nodeName });
    const runtime = new DockerRuntime({ socketPath: cfg.dockerEndpoint, nodeName: cfg.nodeName, log: this.#log.child({ component: 'runtime' }) });
    const host = await readHostInfo(runtime);
    const hostIP = host.internalIP ?? '127.0.0.1';
    const kube = cfg.kubeconfig ? kubeFor(cfg.kubeconfig, this.#log) : undefined;
    const client: KubeClient | undefined = kube?.client;
    log.info({ mode: client ? 'paired' : 'standalone', server: client?.server, staticPodPath: cfg.staticPodPath, hostIP }, 'starting agent');

    const events = new EventRecorder({ client, host: cfg.nodeName, log: this.#log.child({ component: 'events' }) });
    const status = new StatusManager({ client, log: this.#log.child({ component: 'status-manager' }) });
    const volumes = new VolumeManager({ rootDir: cfg.rootDir, client, nodeName: cfg.nodeName, log: this.#log.child({ component: 'volumes' }) });
    const hostDNS = await readHostResolvConf();
    const prober = new ProberManager({ runtime, events, hostIP, log: this.#log.child({ component: 'prober' }) });
    const deps: WorkerDeps = {
      runtime,
      cache: new RuntimeCache(runtime),
      images: new ImageManager(runtime, systemClock, this.#log.child({ component: 'images' })),
      volumes: {
        setup: (p) => volumes.setup(p),
        mountsFor: (p, c, prepared, env) => volumes.mountsFor(p, c, prepared, env ? envMap(env) : undefined),
        refresh: async (p) => { await volumes.refresh(p); },
        teardown: (uid) => volumes.teardown(uid),
      },
      spec: {
        specHash: containerSpecHash,
        qosClass,
        resolveEnv,
        containerSpec: buildContainerCreateSpec,
        sandboxSpec: (pod, image, attempt) => buildSandboxSpec(pod, image, { attempt, clusterDNS: [...cfg.clusterDNS], clusterDomain: cfg.clusterDomain, hostDNS }),
      },
      envSources: client ? kubeEnvSources(client) : noEnvSources,
      events,
      status,
      client,
      node: { nodeName: cfg.nodeName, hostIP, capacity: { cpuMillis: host.cpuCount * 1000, memoryBytes: host.memoryBytes } },
      pauseImage: cfg.podInfraContainerImage,
      podsDir: join(cfg.rootDir, 'pods'),
      probes: prober,
      startSlots: new Semaphore(cfg.runtimeParallelism),
      crashBackoff: new Backoff({ initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 }, systemClock),
      clock: systemClock,
      log: this.#log.child({ component: 'pod-worker' }),
    };

    const sources: PodSource[] = [];
    let staticSource: StaticPodSource | undefined;
    if (cfg.staticPodPath) {
      staticSource = new StaticPodSource({ dir: cfg.staticPodPath, nodeName: cfg.nodeName, rescanMs: cfg.fileCheckFrequencySeconds * 1000, log: this.#log.child({ component: 'static-pods' }) });
      sources.push(staticSource);
    }
    if (kube) sources.push(apiSource(kube, cfg.nodeName));

    await events.start(signal);
    await status.start(signal);
    this.#parts.push({ start: async () => {}, stop: async () => prober.stop() }, status, events);
    if (client) {
      this.#node = new NodeController({
        client, nodeName: cfg.nodeName, runtime, events, log: this.#log.child({ component: 'node' }),
        config: { labels: { ...cfg.nodeLabels }, taints: cfg.registerWithTaints.map((t) => ({ ...t })), maxPods: cfg.maxPods, kubeletPort: cfg.port, kubeletVersion: KUBELET_VERSION, nodeIP: hostIP },
      });
      await this.#node.start(signal);
      this.#parts.unshift(this.#node);
    }
    this.#pods = new PodController(deps, sources, { workers: cfg.podWorkers });
    await this.#pods.start(signal);
    this.#parts.unshift(this.#pods);
    if (client && staticSource) {
      const node = this.#node;
      const src = staticSource;
      const mirror = new MirrorPodManager({ client, nodeName: cfg.nodeName, node: () => node?.node()?.metadata, status, events, staticPods: () => src.list(), log: this.#log.child({ component: 'mirror-pods' }) });
      await mirror.start(signal);
      src.on({ add: () => mirror.trigger(), delete: () => mirror.trigger() });
      mirror.trigger();
      this.#parts.unshift(mirror);
    }
    log.info({ pods: this.#pods.pods().length }, 'agent started');
  }

  async stop(): Promise<void> {
    for (const p of this.#parts) await p.stop().catch(() => {});
    this.#parts = [];
  }
}
