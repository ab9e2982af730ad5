// The agent (kubelet half): wires the runtime, pod sources, pod controller, status writer, node
// controller, events and volumes from one frozen config. build() wires the parts (reads only: host
// facts, resolv.conf), start() starts them in order, stop() stops them in reverse — as fastify's
// build()/listen(). The kube client and the runtime come in from the caller; standalone without a client.
import { join } from 'node:path';
import Dockerode from 'dockerode';
import type { Pod, Secret } from '../kube/api.js';
import { isNotFound } from '../kube/errors.js';
import type { Service } from '../kube/api-network.js';
import { EventRecorder } from '../kube/events.js';
import type { KubeShared } from '../kube/shared.js';
import { Backoff } from '../lib/backoff.js';
import { systemClock } from '../lib/clock.js';
import type { Lifecycle } from '../lib/lifecycle.js';
import type { Logger } from '../lib/log.js';
import { KUBELET_VERSION } from '../lib/version.js';
import { Collector } from '../metrics/collector.js';
import { registerMetricsRoutes } from '../metrics/routes.js';
import * as dockerImages from '../runtime/docker/images.js';
import type { DockerRuntime } from '../runtime/docker/runtime.js';
import { DockerContainerStreams } from '../runtime/docker/streams.js';
import type { AgentConfig } from './config.js';
import { buildContainerCreateSpec, buildSandboxSpec } from './containers/container.js';
import { readHostResolvConf } from './containers/dns.js';
import { envMap, resolveEnv } from './containers/env.js';
import { containerSpecHash } from './containers/hash.js';
import { qosClass } from './containers/qos.js';
import { informerServiceEnv } from './containers/service-env.js';
import { kubeEnvSources } from './containers/sources.js';
import { readHostInfo } from './node/hostinfo.js';
import { ImageGC } from './images/gc.js';
import { nodeCredentialPaths, readNodeCredentials } from './images/keyring.js';
import { NodeController } from './node/controller.js';
import { PodNetwork } from './network/pod-network.js';
import { ProberManager } from './prober/manager.js';
import { PodController, type PodSource } from './pods/controller.js';
import type { EnvSources, WorkerDeps } from './pods/deps.js';
import { ImageManager } from './pods/images.js';
import { RuntimeCache } from './pods/relist.js';
import { AdaptiveSlots } from './pods/slots.js';
import { Semaphore } from '../lib/semaphore.js';
import { effectiveServerConfig } from './server/config.js';
import { kubeletConfigz } from './server/configz.js';
import type { KubeletServer } from './server/kubelet-server.js';
import { createStreamingPlugin } from './server/streaming/index.js';
import { createKubeletServer } from './server/wire.js';
import { MirrorPodManager, isMirrorPod } from './static/mirror.js';
import { StaticPodSource } from './static/source.js';
import { StatusManager } from './status/manager.js';
import { VolumeManager } from './volumes/manager.js';

const noEnvSources: EnvSources = { configMap: async () => undefined, secret: async () => undefined };

/** The API pod source: this node's pods, mirror pods excluded (their static pods run them). */
function apiSource(client: KubeShared, nodeName: string): PodSource {
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

export interface AgentDeps {
  log: Logger;
  /** The Docker runtime (dockerode); the agent never builds its own. */
  runtime: DockerRuntime;
  /** The shared API client and informers; absent ⇒ standalone (static pods only). */
  kube?: KubeShared;
}

/** A wired part: started in order, stopped in reverse. */
interface Part {
  name: string;
  part: Lifecycle;
}

export class Agent implements Lifecycle {
  readonly #config: AgentConfig;
  readonly #deps: AgentDeps;
  #parts: Part[] | undefined;
  #started: Part[] = [];
  #afterStart: (() => void)[] = [];
  #pods: PodController | undefined;
  #relists: (() => number) | undefined;
  #node: NodeController | undefined;
  #server: KubeletServer | undefined;

  constructor(config: AgentConfig, deps: AgentDeps) {
    this.#config = config;
    this.#deps = deps;
  }

  /** PLEG relists so far: grows while the sync loop turns (systemd watchdog, /healthz/syncloop). */
  syncLoopProgress(): number {
    return this.#relists?.() ?? 0;
  }

  podController(): PodController | undefined {
    return this.#pods;
  }

  nodeController(): NodeController | undefined {
    return this.#node;
  }

  /** The kubelet API server (after build). */
  kubeletServer(): KubeletServer | undefined {
    return this.#server;
  }

  /** Wires every part from the config (reads host facts; starts nothing). Idempotent. */
  async build(): Promise<void> {
    if (this.#parts) return;
    const cfg = this.#config;
    const { runtime, kube } = this.#deps;
    const child = (component: string) => this.#deps.log.child({ component });
    const host = await readHostInfo(runtime);
    const hostIP = host.internalIP ?? '127.0.0.1';
    const client = kube?.client;
    const serverConfig = effectiveServerConfig(cfg, client !== undefined);
    // Service links for container environments (upstream's service lister; none standalone).
    const services = kube?.informers.get<Service>({ path: '/api/v1/services' });
    const events = new EventRecorder({ client, host: cfg.nodeName, log: child('events') });
    const status = new StatusManager({ client, log: child('status-manager') });
    const volumes = new VolumeManager({ rootDir: cfg.rootDir, client, nodeName: cfg.nodeName, log: child('volumes') });
    const hostDNS = await readHostResolvConf();
    const prober = new ProberManager({ runtime, events, hostIP, log: child('prober') });
    const cache = new RuntimeCache(runtime);
    // The node's pod network (kubenet's job): a Docker bridge on spec.podCIDR plus host-gw routes; none without a podCIDR.
    const podNetwork = kube
      ? new PodNetwork({ docker: new Dockerode({ socketPath: cfg.dockerEndpoint }), client: kube.client, informers: kube.informers, nodeName: cfg.nodeName, log: child('pod-network') }, { nonMasqueradeCIDR: cfg.nonMasqueradeCIDR })
      : undefined;
    const deps: WorkerDeps = {
      runtime,
      cache,
      images: new ImageManager(runtime, systemClock, child('images'), {
        // Pull credentials as upstream's credentialprovider: the pod's imagePullSecrets, then the node's docker config.
        ...(client ? { secret: (ns: string, name: string) => client.get<Secret>(`/api/v1/namespaces/${ns}/secrets/${name}`).catch((err: unknown) => {
          if (isNotFound(err)) return undefined;
          throw err;
        }) } : {}),
        nodeCredentials: () => readNodeCredentials(nodeCredentialPaths(cfg.rootDir)),
      }),
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
        containerSpec: (a) => buildContainerCreateSpec({ ...a, clusterDomain: cfg.clusterDomain, rootDir: cfg.rootDir }),
        sandboxSpec: (pod, image, attempt) => {
          const network = podNetwork?.name();
          return buildSandboxSpec(pod, image, { attempt, clusterDNS: [...cfg.clusterDNS], clusterDomain: cfg.clusterDomain, hostDNS, ...(network ? { network } : {}) });
        },
      },
      envSources: client ? kubeEnvSources(client, services ? { serviceEnv: informerServiceEnv(services) } : {}) : noEnvSources,
      events,
      status,
      client,
      clusterDNS: [...cfg.clusterDNS],
      admission: { maxPods: cfg.maxPods, allowedUnsafeSysctls: [...cfg.allowedUnsafeSysctls] },
      node: { nodeName: cfg.nodeName, hostIP, capacity: { cpuMillis: host.cpuCount * 1000, memoryBytes: host.memoryBytes } },
      pauseImage: cfg.podInfraContainerImage,
      podsDir: join(cfg.rootDir, 'pods'),
      probes: prober,
      startSlots: new AdaptiveSlots({ max: cfg.runtimeParallelism }),
      stopSlots: new Semaphore(cfg.runtimeParallelism),
      crashBackoff: new Backoff({ initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 }, systemClock),
      clock: systemClock,
      log: child('pod-worker'),
    };

    const sources: PodSource[] = [];
    let staticSource: StaticPodSource | undefined;
    if (cfg.staticPodPath) {
      staticSource = new StaticPodSource({ dir: cfg.staticPodPath, nodeName: cfg.nodeName, rescanMs: cfg.fileCheckFrequencySeconds * 1000, log: child('static-pods') });
      sources.push(staticSource);
    }
    if (kube) sources.push(apiSource(kube, cfg.nodeName));

    const parts: Part[] = [
      { name: 'events', part: events },
      { name: 'status', part: status },
      { name: 'prober', part: prober },
    ];
    // Image GC by disk usage (image_gc_manager): never images of any container nor the pause image.
    const imageDocker = new Dockerode({ socketPath: cfg.dockerEndpoint });
    parts.push({
      name: 'image-gc',
      part: new ImageGC({
        listImages: async () => (await runtime.listImages()).map((i) => ({ id: i.id, sizeBytes: i.sizeBytes ?? 0, repoTags: i.repoTags })),
        imagesInUse: () => dockerImages.imagesInUse(imageDocker),
        removeImage: (id) => dockerImages.removeImage(imageDocker, id),
        imageFsStats: () => dockerImages.imageFsStats(imageDocker),
        pinned: [cfg.podInfraContainerImage],
        nodeEvent: (type, reason, message) => events.event({ kind: 'Node', apiVersion: 'v1', name: cfg.nodeName, uid: cfg.nodeName }, type, reason, message),
        policy: { highThresholdPercent: cfg.imageGCHighThresholdPercent, lowThresholdPercent: cfg.imageGCLowThresholdPercent, minAgeMs: cfg.imageMinimumGCAgeSeconds * 1000 },
        log: child('image-gc'),
      }),
    });
    // The Service informer must not hold up start-up: static pods run before there is an API server.
    if (services) {
      parts.push({
        name: 'services',
        part: {
          start: async (s) => { void services.start(s).catch((err: unknown) => child('agent').warn({ err }, 'service informer ended')); },
          stop: () => services.stop(),
        },
      });
    }
    if (client) {
      this.#node = new NodeController({
        client, nodeName: cfg.nodeName, runtime, events, log: child('node'),
        config: { hostname: cfg.nodeName, labels: { ...cfg.nodeLabels }, taints: cfg.registerWithTaints.map((t) => ({ ...t })), maxPods: cfg.maxPods, kubeletPort: cfg.port, kubeletVersion: KUBELET_VERSION, nodeIP: hostIP },
      });
      parts.push({ name: 'node', part: this.#node });
      if (podNetwork) parts.push({ name: 'pod-network', part: podNetwork });
    }
    this.#pods = new PodController(deps, sources, { workers: cfg.podWorkers });
    parts.push({ name: 'pods', part: this.#pods });
    if (client && staticSource) {
      const node = this.#node;
      const src = staticSource;
      const mirror = new MirrorPodManager({ client, nodeName: cfg.nodeName, node: () => node?.node()?.metadata, status, events, staticPods: () => src.list(), log: child('mirror-pods') });
      parts.push({ name: 'mirror-pods', part: mirror });
      this.#afterStart.push(() => {
        src.on({ add: () => mirror.trigger(), delete: () => mirror.trigger() });
        mirror.trigger();
      });
    }

    // The kubelet API (:10250) with the metrics and streaming routes; listens after everything else started.
    const docker = new Dockerode({ socketPath: cfg.dockerEndpoint });
    const collector = new Collector({ docker, clock: systemClock, log: child('metrics') }, {
      podsOnly: true, nodeName: cfg.nodeName, stateDir: join(cfg.rootDir, 'metrics'), housekeepingMs: 10_000,
    });
    runtime.onInspect((info) => collector.offerInspect(info)); // one inspect per started container, not two
    const metricsRoutes = registerMetricsRoutes(collector, { nodeName: cfg.nodeName });
    const pods = this.#pods;
    this.#relists = () => cache.relists;
    const kubeletApi = createKubeletServer({
      server: serverConfig,
      nodeName: cfg.nodeName,
      rootDir: cfg.rootDir,
      port: cfg.port,
      dockerEndpoint: cfg.dockerEndpoint,
      hostIPs: host.internalIP ? [host.internalIP] : [],
      ...(client ? { client } : {}),
      listContainers: () => runtime.listManaged(),
      pods: () => pods.pods(),
      status: (uid) => status.get(uid),
      relists: this.#relists,
      configz: () => kubeletConfigz(cfg, serverConfig),
      plugins: [metricsRoutes, createStreamingPlugin({ streams: new DockerContainerStreams(docker) })],
      readOnlyPlugins: [metricsRoutes],
      clock: systemClock,
      log: child('kubelet-server'),
    });
    this.#server = kubeletApi.server;
    parts.push({ name: 'metrics', part: collector }, { name: 'kubelet-server', part: kubeletApi.server });
    if (kubeletApi.bootstrap) parts.push({ name: 'serving-certificate', part: kubeletApi.bootstrap });
    this.#parts = parts;
    child('agent').info({ node: cfg.nodeName, mode: client ? 'paired' : 'standalone', server: client?.server, staticPodPath: cfg.staticPodPath, hostIP }, 'agent built');
  }

  async start(signal: AbortSignal): Promise<void> {
    await this.build();
    for (const p of this.#parts ?? []) {
      await p.part.start(signal);
      this.#started.unshift(p);
    }
    for (const f of this.#afterStart) f();
    this.#deps.log.child({ component: 'agent' }).info({ pods: this.#pods?.pods().length ?? 0 }, 'agent started');
  }

  /** Stops the started parts in reverse order; a part that fails to stop is logged and the rest still stop. */
  async stop(): Promise<void> {
    const log = this.#deps.log.child({ component: 'agent' });
    for (const p of this.#started) {
      try {
        await p.part.stop();
      } catch (err) {
        log.warn({ err, part: p.name }, 'part failed to stop');
      }
    }
    this.#started = [];
  }
}
