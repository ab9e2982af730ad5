// ContainerRuntime on Docker Engine (API 1.41) through dockerode: pod sandboxes as pause containers
// holding the network/IPC namespaces, app containers joined to them, named and labelled as dockershim.
import { existsSync } from 'node:fs';
import Dockerode from 'dockerode';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { partLogger, type Logger } from '../../lib/log.js';
import { Labels } from '../naming.js';
import type {
  ContainerCreateSpec, ContainerRuntime, ImageInfo, LogOptions, ObservedContainer, PullProgress, RegistryAuth, Resources, RuntimeEvent,
  SandboxSpec,
} from '../types.js';

export { hasCapSysResource, hostDevices, privilegedCapabilities, writePodCgroup } from './host.js';
export { podCgroupPaths, removeEmptyCgroups } from './pod-cgroups.js';
import { dockerStatus, isNameConflict, isNotFound, isTransientNetworkError, toDockerletError, type DockerOp } from './errors.js';
import { watchEvents, watchImageEvents } from './events.js';
import { execInContainer } from './exec.js';
import {
  ensureFile, hasCapSysResource, hostDevices, privilegedCapabilities, readSeccompProfile, writeGeneratedFile,
  rewriteResolvConf, writePodCgroup,
} from './host.js';
import * as images from './images.js';
import { podCgroupPaths, removeEmptyCgroups, removeOrphanPodCgroups } from './pod-cgroups.js';
import { LogStream, logsQuery } from './logs.js';
import { ContainerLister } from './list.js';
import { containerCreateOptions, containerUpdateOptions, nonRootViolation, sandboxCreateOptions, type DockerHostFacts } from './specs.js';
import { readFirstFile } from './tar.js';

export interface DockerRuntimeOptions {
  /** Docker socket; defaults to dockerode's default (DOCKER_HOST or /var/run/docker.sock). */
  socketPath?: string;
  log?: Logger;
  /** When set, created containers carry this node's label and only such containers are managed. */
  nodeName?: string;
}

/** Tries of a sandbox create+start that meets dockerd's post-restart endpoint errors. */
const TRANSIENT_ATTEMPTS = 8;

export class DockerRuntime implements ContainerRuntime {
  readonly #opts: DockerRuntimeOptions;
  #docker: Dockerode | undefined;
  #logger: Logger | undefined;
  readonly #lister = new ContainerLister(() => this.#client, () => this.#log);
  readonly #images = new images.ImagePresence();
  #oomFloor: number | undefined;
  #facts: Promise<DockerHostFacts> | undefined;
  /** The cgroup parent each pod's containers were created under (for its removal). */
  readonly #podCgroups = new Map<string, string>();

  constructor(opts: DockerRuntimeOptions = {}) {
    this.#opts = { ...opts };
  }

  get #client(): Dockerode {
    this.#docker ??= new Dockerode(this.#opts.socketPath ? { socketPath: this.#opts.socketPath } : undefined);
    return this.#docker;
  }

  get #log(): Logger {
    this.#logger ??= partLogger(this.#opts.log, 'docker-runtime');
    return this.#logger;
  }

  async version(): Promise<{ name: 'docker'; version: string; apiVersion: string }> {
    const v = await this.#call('version', () => this.#client.version());
    return { name: 'docker', version: v.Version, apiVersion: v.ApiVersion };
  }

  /** One list call; only containers whose state/status changed since the last call are inspected. */
  listManaged(): Promise<ObservedContainer[]> {
    return this.#lister.list(this.#ownedFilter());
  }

  /** The containers of one pod (a list filtered by its uid label), inspecting only those that changed. */
  listPod(podUid: string): Promise<ObservedContainer[]> {
    return this.#lister.list(this.#ownedFilter(), podUid);
  }

  inspectContainers(ids: readonly string[]): Promise<ObservedContainer[]> {
    return this.#lister.inspect(ids);
  }

  /** fn sees every container inspect the runtime makes (one listener; the last set wins). */
  onInspect(fn: (info: Dockerode.ContainerInspectInfo) => void): void {
    this.#lister.onInspect = fn;
  }

  /** Image inspect, answered from the presence cache while the image event stream is up (see watchEvents). */
  inspectImage(ref: string): Promise<ImageInfo | undefined> {
    return this.#images.inspect(ref, () => images.inspectImage(this.#client, ref));
  }

  pullImage(ref: string, onProgress?: (p: PullProgress) => void, signal?: AbortSignal, auth?: RegistryAuth): Promise<ImageInfo> {
    return images.pullImage(this.#client, ref, onProgress, signal, auth);
  }

  listImages(): Promise<ImageInfo[]> {
    return images.listImages(this.#client);
  }

  #ownedFilter(): string[] {
    const node = this.#opts.nodeName;
    return node ? [Labels.podUid, `${Labels.node}=${node}`] : [Labels.podUid];
  }

  #owned(opts: Dockerode.ContainerCreateOptions): Dockerode.ContainerCreateOptions {
    const node = this.#opts.nodeName;
    return node ? { ...opts, Labels: { ...opts.Labels, [Labels.node]: node } } : opts;
  }

  /** Creates and starts the pause container; the transient errors right after a dockerd restart are retried quietly. */
  async runSandbox(spec: SandboxSpec): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#runSandboxOnce(spec);
      } catch (err) {
        if (attempt >= TRANSIENT_ATTEMPTS || !isTransientNetworkError(err)) throw err;
        this.#log.debug({ pod: `${spec.identity.podNamespace}/${spec.identity.podName}`, attempt, err }, 'transient sandbox network error; retrying');
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
  }

  async #runSandboxOnce(spec: SandboxSpec): Promise<string> {
    if (spec.cgroupParent) this.#podCgroups.set(spec.identity.podUid, spec.cgroupParent);
    const id = await this.#create(this.#clampOom(this.#owned(sandboxCreateOptions(spec, await this.#hostFacts()))));
    try {
      await this.startContainer(id);
      if (spec.dns && spec.network) await rewriteResolvConf(await this.#resolvConfPath(id), spec.dns);
    } catch (err) {
      await this.removeContainer(id).catch((e: unknown) => this.#log.warn({ id, err: e }, 'removing failed sandbox'));
      throw err;
    }
    if (spec.cgroupParent && spec.podResources && (await this.#hostFacts()).cgroupDriver !== 'systemd') {
      try {
        await writePodCgroup(spec.cgroupParent, spec.podResources);
      } catch (err) {
        this.#log.warn({ pod: `${spec.identity.podNamespace}/${spec.identity.podName}`, cgroup: spec.cgroupParent, err }, 'pod cgroup limits not set');
      }
    }
    return id;
  }

  /**
   * The sandbox's resolv.conf on the host: Docker keeps it at <DockerRootDir>/containers/<id>/resolv.conf
   * (container.Root); an inspect only when it is not there (this process sees another filesystem).
   */
  async #resolvConfPath(id: string): Promise<string> {
    const root = (await this.#hostFacts()).rootDir;
    const path = root ? `${root}/containers/${id}/resolv.conf` : undefined;
    if (path && existsSync(path)) return path;
    return (await this.#client.getContainer(id).inspect()).ResolvConfPath;
  }

  async createContainer(spec: ContainerCreateSpec): Promise<string> {
    if (spec.terminationMessageHostPath) ensureFile(spec.terminationMessageHostPath);
    const resolved = await this.#resolveImageUser(spec);
    for (const f of resolved.files ?? []) await writeGeneratedFile(f);
    const facts = { ...(await this.#hostFacts()) };
    if (resolved.seccomp?.startsWith('localhost/')) facts.seccompProfiles = { [resolved.seccomp]: await readSeccompProfile(resolved.seccomp) };
    return this.#create(this.#clampOom(this.#owned(containerCreateOptions(resolved, facts))));
  }

  /**
   * The parts of the kubelet's user handling that need the image: verifyRunAsNonRoot against its USER,
   * and a group-only runAsGroup (":gid") completed with the image's user.
   */
  async #resolveImageUser(spec: ContainerCreateSpec): Promise<ContainerCreateSpec> {
    const groupOnly = spec.user?.startsWith(':') === true;
    if (!spec.verifyNonRoot && !groupOnly) return spec;
    let imageUser: string | undefined;
    try {
      imageUser = (await this.#client.getImage(spec.image).inspect()).Config?.User ?? '';
    } catch (err) {
      throw toDockerletError('inspect-image', err, { image: spec.image });
    }
    if (spec.verifyNonRoot) {
      const why = nonRootViolation(imageUser, spec.verifyNonRoot.pod, spec.identity.containerName);
      if (why) throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, why, { details: { container: spec.identity.containerName } });
    }
    if (!groupOnly) return spec;
    return { ...spec, user: `${imageUser.split(':')[0] || '0'}${spec.user}` };
  }

  async updatePodResources(cgroupParent: string, resources: Resources): Promise<void> {
    if ((await this.#hostFacts()).cgroupDriver === 'systemd') return;
    try {
      await writePodCgroup(cgroupParent, resources);
    } catch (err) {
      throw new DockerletError(ErrorCodes.RUNTIME, `cannot update pod cgroup ${cgroupParent}: ${(err as Error).message}`, { cause: err, details: { cgroup: cgroupParent } });
    }
  }

  async updateContainerResources(id: string, resources: Resources): Promise<void> {
    try {
      await this.#client.getContainer(id).update(containerUpdateOptions(resources));
    } catch (err) {
      throw toDockerletError('update', err, { id });
    }
  }

  /** Docker's cgroup driver and what Privileged can grant here (read once). */
  #hostFacts(): Promise<DockerHostFacts> {
    this.#facts ??= (async () => {
      const facts: DockerHostFacts = {};
      try {
        const info = (await this.#client.info()) as { CgroupDriver?: string; DockerRootDir?: string };
        if (info.CgroupDriver) facts.cgroupDriver = info.CgroupDriver;
        if (info.DockerRootDir) facts.rootDir = info.DockerRootDir;
      } catch (err) {
        this.#log.warn({ err }, 'docker info failed; assuming the cgroupfs driver');
      }
      const caps = privilegedCapabilities();
      if (caps) {
        facts.privilegedCaps = caps;
        facts.hostDevices = hostDevices();
        this.#log.warn('not every capability can be granted here (no CAP_SYS_RESOURCE): privileged containers get the capabilities this host holds, unconfined');
      }
      return facts;
    })();
    return this.#facts;
  }

  async startContainer(id: string): Promise<void> {
    this.#lister.forget(id);
    try {
      await this.#client.getContainer(id).start();
      this.#lister.started(id);
    } catch (err) {
      if (dockerStatus(err) === 304) return; // already started
      const e = toDockerletError('start', err, { id });
      this.#lister.startFailed(id, e.message);
      throw e;
    }
  }

  /** Docker stop: the container's StopSignal (copied from the image's STOPSIGNAL), SIGKILL after grace. */
  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    this.#lister.forget(id);
    const t = Math.max(0, Math.ceil(Number.isFinite(graceSeconds) ? graceSeconds : 0));
    try {
      await this.#client.getContainer(id).stop({ t });
    } catch (err) {
      if (dockerStatus(err) === 304 || isNotFound(err)) return; // already stopped / gone
      throw toDockerletError('stop', err, { id });
    }
  }

  async removeContainer(id: string): Promise<void> {
    const podUid = this.#lister.podUidOf(id);
    this.#lister.forget(id);
    try {
      await this.#client.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      if (isNotFound(err)) {
        this.#lister.removed(id);
        return;
      }
      if (dockerStatus(err) === 409 && /already in progress/i.test(String((err as Error).message))) return;
      throw toDockerletError('remove', err, { id });
    }
    this.#lister.removed(id);
    if (podUid) await this.#removePodCgroup(podUid);
  }

  /** Removes the empty pod cgroups of pods not in keep (cgroupfs driver; systemd removes empty slices itself). */
  async removeOrphanPodCgroups(keep: ReadonlySet<string>): Promise<number> {
    if ((await this.#hostFacts()).cgroupDriver === 'systemd') return 0;
    return removeOrphanPodCgroups(keep);
  }

  /**
   * Docker removes a container's own cgroup, never its parent: once the pod's last container is gone its
   * (then empty) pod cgroup is removed, as the kubelet's podContainerManager.Destroy. rmdir refuses while
   * any container of the pod is left, so this is safe to try after every removal.
   */
  async #removePodCgroup(podUid: string): Promise<void> {
    const parent = this.#podCgroups.get(podUid);
    const facts = await this.#hostFacts();
    if (facts.cgroupDriver === 'systemd') return; // systemd removes empty slices itself
    const rels = parent ? [parent] : podCgroupPaths(podUid);
    if (await removeEmptyCgroups(rels)) this.#podCgroups.delete(podUid);
  }

  async logs(id: string, opts: LogOptions): Promise<NodeJS.ReadableStream> {
    const info = await this.#call('inspect', () => this.#client.getContainer(id).inspect(), { id });
    const res = await new Promise<NodeJS.ReadableStream & { destroy(): void }>((resolve, reject) => {
      this.#client.modem.dial(
        {
          path: `/containers/${encodeURIComponent(id)}/logs?`,
          method: 'GET',
          isStream: true,
          statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          options: logsQuery(opts, Date.now()),
          ...(opts.signal ? { abortSignal: opts.signal } : {}),
        },
        (err, data) => (err ? reject(toDockerletError('logs', err, { id })) : resolve(data as never)),
      );
    });
    const out = new LogStream({ multiplexed: !info.Config.Tty, limitBytes: opts.limitBytes });
    const onAbort = () => out.end();
    const finish = () => {
      res.destroy();
      opts.signal?.removeEventListener('abort', onAbort);
    };
    out.once('end', finish);
    out.once('close', finish);
    res.on('error', (e: Error) => (opts.signal?.aborted ? out.end() : out.destroy(e)));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    res.pipe(out);
    return out;
  }

  /** Reads path from the container's filesystem (works on exited containers and bind mounts). */
  async readFile(id: string, path: string, maxBytes: number): Promise<string | undefined> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.#client.getContainer(id).getArchive({ path });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw toDockerletError('archive', err, { id, path });
    }
    const data = await readFirstFile(stream, maxBytes);
    return data?.toString('utf8');
  }

  /** docker exec with stdout+stderr combined (first 10 KiB), bounded by opts.timeoutMs. */
  exec(id: string, cmd: string[], opts: { timeoutMs: number }): Promise<{ exitCode: number; output: string }> {
    return execInContainer(this.#client, id, cmd, opts);
  }

  /**
   * Docker events for managed containers (each also invalidates the lister's entry), and beside them the
   * image events that keep the image presence cache true (it is used only while that stream is up).
   */
  async watchEvents(signal: AbortSignal, onEvent: (e: RuntimeEvent) => void, onConnected?: (connected: boolean) => void): Promise<void> {
    const imageStream = watchImageEvents(this.#client, this.#log, signal, () => this.#images.invalidate(), (live) => this.#images.setLive(live));
    const containerStream = watchEvents(this.#client, this.#log, signal, (e) => {
      this.#lister.eventFor(e.id, e.action);
      onEvent(e);
    }, onConnected);
    await Promise.all([containerStream, imageStream]);
  }

  /**
   * Lowering oom_score_adj needs CAP_SYS_RESOURCE; without it runc fails at start ("can't get final
   * child's PID from pipe"). When this process lacks the capability (as does dockerd beside it, e.g.
   * in a restricted VM), negative values are raised to 0, as the kubelet does in a user namespace.
   */
  #clampOom(opts: Dockerode.ContainerCreateOptions): Dockerode.ContainerCreateOptions {
    const adj = opts.HostConfig?.OomScoreAdj;
    if (adj === undefined || adj >= 0) return opts;
    if (this.#oomFloor === undefined) {
      this.#oomFloor = hasCapSysResource() ? -1000 : 0;
      if (this.#oomFloor === 0) this.#log.warn('no CAP_SYS_RESOURCE: negative oom_score_adj values are raised to 0');
    }
    if (adj >= this.#oomFloor) return opts;
    return { ...opts, HostConfig: { ...opts.HostConfig, OomScoreAdj: this.#oomFloor } };
  }

  /**
   * Creates a container; a name left over (e.g. by a crash) is removed and the create retried once.
   * A 404 (no such image: removed after the presence check) drops the image presence cache.
   */
  async #create(opts: Dockerode.ContainerCreateOptions): Promise<string> {
    try {
      return (await this.#client.createContainer(opts)).id;
    } catch (err) {
      if (isNotFound(err)) this.#images.invalidate();
      if (!isNameConflict(err) || !opts.name) throw toDockerletError('create', err, { name: opts.name });
      this.#log.warn({ name: opts.name }, 'container name in use; removing the old container and retrying');
      await this.removeContainer(opts.name);
    }
    return this.#call('create', async () => (await this.#client.createContainer(opts)).id, { name: opts.name });
  }

  async #call<T>(op: DockerOp, fn: () => Promise<T>, details: Record<string, unknown> = {}): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toDockerletError(op, err, details);
    }
  }
}
