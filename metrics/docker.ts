// Finds the Docker containers to measure, as cAdvisor's Docker factory does (container/docker/factory.go:
// running containers only, confirmed by inspect; aliases [name, id]; image = .Config.Image; creation time
// = .Created), with the kubelet's pod labels (io.kubernetes.pod.name/namespace/uid, io.kubernetes.container.name;
// the sandbox is the container named POD). A container's cgroup comes from /proc/<pid>/cgroup, else from
// inspect's CgroupParent and the daemon's cgroup driver. Inspect results are cached per id and dropped
// on the container's 'start'/'die'/'destroy' events.
import { existsSync } from 'node:fs';
import type Dockerode from 'dockerode';
import { delay } from '../lib/lifecycle.js';
import type { Logger } from '../lib/log.js';
import { dockerCgroupPath, pathFromProcCgroup } from './cgroup/layout.js';
import { readSmall } from './cgroup/reader.js';
import type { ContainerMeta } from './types.js';

const L = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
  node: 'io.dockerlet.node',
} as const;

export interface DockerSourceOptions {
  /** Only containers carrying Kubernetes pod labels (the kubelet's view). */
  podsOnly?: boolean;
  /** With podsOnly: only containers whose io.dockerlet.node label is this node (when they carry one). */
  nodeName?: string;
  procRoot?: string;
  cgroupVersion: 1 | 2;
  /** Clock for the list cache (epoch ms). */
  now?: () => number;
  /**
   * Re-list at least this often (ms); default 0: only when the event stream (re)connects, since
   * container starts and stops arrive as events (no Docker API call on a pass where nothing changed).
   */
  relistMs?: number;
}

export interface DaemonInfo {
  cgroupDriver: string;
  version: string;
  /** Docker's root dir (for the image filesystem). */
  rootDir: string;
}

/** The pod identity a container's labels give; undefined when it is not a pod container. */
export function podFromLabels(labels: Record<string, string>): ContainerMeta['pod'] {
  const name = labels[L.podName];
  const namespace = labels[L.podNamespace];
  const container = labels[L.containerName];
  if (!name || !namespace || !container) return undefined;
  return { name, namespace, uid: labels[L.podUid] ?? '', container, sandbox: container === 'POD' };
}

/** The stable key OOM counts are kept under: ns/pod/container for pod containers, else the Docker name. */
export function identityKey(meta: ContainerMeta): string {
  return meta.pod ? `pod:${meta.pod.namespace}/${meta.pod.name}/${meta.pod.container}` : `docker:${meta.name}`;
}

export class DockerSource {
  readonly #docker: Dockerode;
  readonly #opts: DockerSourceOptions;
  readonly #log: Logger;
  #cache = new Map<string, ContainerMeta>();
  #info: DaemonInfo | undefined;
  #listed: ContainerMeta[] | undefined;
  #listedAt = 0;
  #dirty = true;
  /** Containers started since the last list (from events), to inspect and add. */
  #started = new Set<string>();
  /** Metadata from inspects made by others (the agent's runtime) after a start, used instead of an inspect. */
  #offered = new Map<string, ContainerMeta>();

  constructor(docker: Dockerode, opts: DockerSourceOptions, log: Logger) {
    this.#docker = docker;
    this.#opts = opts;
    this.#log = log;
  }

  async info(): Promise<DaemonInfo> {
    if (this.#info) return this.#info;
    const i = (await this.#docker.info()) as { CgroupDriver?: string; ServerVersion?: string; DockerRootDir?: string };
    this.#info = { cgroupDriver: i.CgroupDriver ?? 'cgroupfs', version: i.ServerVersion ?? '', rootDir: i.DockerRootDir ?? '/var/lib/docker' };
    return this.#info;
  }

  /**
   * Applies a container event to the cached list: 'start' queues an inspect for the next list(),
   * 'die'/'destroy' drop the container. Under container churn this spares a full re-list per event.
   */
  applyEvent(action: string, id: string, at = Infinity): void {
    if (at <= this.#listedAt) return; // a replayed event the last full list already reflects
    if (action === 'start') {
      this.#cache.delete(id);
      this.#started.add(id);
    } else if (action === 'die' || action === 'destroy') {
      this.#cache.delete(id);
      this.#offered.delete(id);
      this.#started.delete(id);
      if (this.#listed?.some((m) => m.id === id)) this.#listed = this.#listed.filter((m) => m.id !== id);
    }
  }

  #wanted(labels: Record<string, string>): boolean {
    if (!this.#opts.podsOnly) return true;
    if (!labels[L.podName]) return false;
    return !(this.#opts.nodeName && labels[L.node] && labels[L.node] !== this.#opts.nodeName);
  }

  /**
   * The running containers to measure: a full list at first, after a (re)connection of the event stream
   * and every relistMs when set; in between, the cached list with the
   * containers events started added. A cached container that stopped unseen is noticed by the
   * collector when its cgroup is gone.
   */
  async list(): Promise<ContainerMeta[]> {
    const now = (this.#opts.now ?? Date.now)();
    const { cgroupDriver } = await this.info();
    const relistMs = this.#opts.relistMs || Infinity;
    if (this.#listed && !this.#dirty && now - this.#listedAt < relistMs) {
      if (this.#started.size === 0) return this.#listed;
      const ids = [...this.#started];
      this.#started.clear();
      const known = new Set(this.#listed.map((m) => m.id));
      const added = await Promise.all(ids.filter((id) => !known.has(id)).map((id) => this.#inspect(id, cgroupDriver)));
      const fresh = added.filter((m): m is ContainerMeta => m !== undefined && this.#wanted(m.labels));
      for (const m of fresh) this.#cache.set(m.id, m);
      this.#listed = [...this.#listed, ...fresh].sort((a, b) => (a.id < b.id ? -1 : 1));
      return this.#listed;
    }
    this.#dirty = false;
    this.#started.clear();
    const filters: Record<string, string[]> = { status: ['running'] };
    if (this.#opts.podsOnly) filters.label = [L.podName];
    let rows: Dockerode.ContainerInfo[];
    try {
      rows = await this.#docker.listContainers({ all: false, filters });
    } catch (err) {
      this.#dirty = true;
      throw err;
    }
    const live = new Set<string>();
    const out: ContainerMeta[] = [];
    await Promise.all(rows.map(async (row) => {
      live.add(row.Id);
      if (!this.#wanted(row.Labels ?? {})) return;
      let meta = this.#cache.get(row.Id);
      if (!meta) {
        meta = await this.#inspect(row.Id, cgroupDriver);
        if (!meta) return;
        this.#cache.set(row.Id, meta);
      }
      out.push(meta);
    }));
    for (const id of this.#cache.keys()) if (!live.has(id)) this.#cache.delete(id);
    for (const id of this.#offered.keys()) if (!live.has(id)) this.#offered.delete(id);
    this.#listed = out.sort((a, b) => (a.id < b.id ? -1 : 1));
    this.#listedAt = now;
    return this.#listed;
  }

  /**
   * An inspect someone else made (the agent inspects each container it starts): a running container's
   * metadata is kept for the next list, which then need not inspect it (cAdvisor inspects each new
   * container once; with the agent that was the second inspect of each). A die drops it.
   */
  offer(c: Dockerode.ContainerInspectInfo): void {
    if (!c.State?.Running || !this.#info || this.#cache.has(c.Id)) return; // known already: nothing to spare
    const meta = this.#metaOf(c, this.#info.cgroupDriver);
    if (this.#wanted(meta.labels)) this.#offered.set(c.Id, meta);
  }

  async #inspect(id: string, driver: string): Promise<ContainerMeta | undefined> {
    const offered = this.#offered.get(id);
    if (offered) {
      this.#offered.delete(id);
      // Still the process that inspect saw (not restarted since, unnoticed): no inspect needed.
      if (offered.pid > 0 && existsSync(`${this.#opts.procRoot ?? '/proc'}/${offered.pid}`)) return offered;
    }
    let c: Dockerode.ContainerInspectInfo;
    try {
      c = await this.#docker.getContainer(id).inspect();
    } catch {
      return undefined; // removed between list and inspect
    }
    if (!c.State?.Running) return undefined;
    return this.#metaOf(c, driver);
  }

  #metaOf(c: Dockerode.ContainerInspectInfo, driver: string): ContainerMeta {
    const labels = c.Config?.Labels ?? {};
    const pid = c.State.Pid ?? 0;
    let cgroupPath: string | undefined;
    if (pid > 0) {
      try {
        const text = readSmall(`${this.#opts.procRoot ?? '/proc'}/${pid}/cgroup`);
        if (text !== undefined) cgroupPath = pathFromProcCgroup(text, this.#opts.cgroupVersion);
      } catch { /* fall back to the daemon's layout */ }
    }
    // Inside a private cgroup namespace the pid's own view is "/"; use the daemon's layout then.
    if (!cgroupPath || cgroupPath === '/') cgroupPath = dockerCgroupPath(c.Id, driver, c.HostConfig?.CgroupParent);
    const meta: ContainerMeta = {
      id: c.Id,
      name: c.Name.replace(/^\//, ''),
      image: c.Config?.Image ?? '',
      createdAt: Date.parse(c.Created) || 0,
      pid,
      cgroupPath,
      networkMode: c.HostConfig?.NetworkMode ?? 'default',
      labels,
    };
    const pod = podFromLabels(labels);
    if (pod) meta.pod = pod;
    return meta;
  }

  /**
   * Streams container events until the signal aborts, reconnecting with a delay; `since` (ms) replays
   * earlier events on the first connection. Calls onEvent(action, id, labels, timeMs).
   */
  async watch(signal: AbortSignal, since: number | undefined,
    onEvent: (action: string, id: string, attrs: Record<string, string>, at: number) => void): Promise<void> {
    let sinceSec = since ? Math.floor(since / 1000) : undefined;
    let lastNano = 0; // a reconnection replays from a whole second: skip what was already delivered
    while (!signal.aborted) {
      try {
        const opts: Record<string, unknown> = { filters: { type: ['container'], event: ['start', 'die', 'destroy', 'oom', 'update'] }, abortSignal: signal };
        if (sinceSec !== undefined) opts.since = sinceSec;
        const stream = (await this.#docker.getEvents(opts)) as NodeJS.ReadableStream;
        this.#dirty = true; // events may have been missed while disconnected
        let rest = '';
        for await (const chunk of stream as AsyncIterable<Buffer | string>) {
          rest += chunk.toString();
          let nl: number;
          while ((nl = rest.indexOf('\n')) >= 0) {
            const line = rest.slice(0, nl).trim();
            rest = rest.slice(nl + 1);
            if (!line) continue;
            let ev: { Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; timeNano?: number };
            try { ev = JSON.parse(line); } catch { continue; }
            const id = ev.Actor?.ID;
            if (!id || !ev.Action) continue;
            if (typeof ev.timeNano === 'number') {
              if (ev.timeNano <= lastNano) continue;
              lastNano = ev.timeNano;
            }
            const at = typeof ev.timeNano === 'number' ? ev.timeNano / 1e6 : Date.now();
            sinceSec = Math.floor(at / 1000);
            this.applyEvent(ev.Action, id, at);
            onEvent(ev.Action, id, ev.Actor?.Attributes ?? {}, at);
          }
        }
      } catch (err) {
        if (signal.aborted) break;
        this.#log.warn({ err }, 'docker event stream failed; reconnecting');
      }
      await delay(1000, signal);
    }
  }
}
