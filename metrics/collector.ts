// The collector: cAdvisor's housekeeping (manager/container.go housekeepingTick) at the kubelet's interval
// (10 s, pkg/kubelet/cadvisor/cadvisor_linux.go), reading every container's cgroup, the sandboxes'
// /proc/<pid>/net/dev and the root cgroup into one snapshot that every endpoint reads. A scrape formats
// the snapshot; it never touches cgroups. Stopped containers' series disappear with the next snapshot.
// Idle cost: files read every pass stay open (pread), a container whose CPU time and network counters did
// not move reuses its last entry, and Docker is asked only when events say something changed.
import type Dockerode from 'dockerode';
import { systemClock, type Clock } from '../lib/clock.js';
import type { Lifecycle } from '../lib/lifecycle.js';
import { partLogger, type Logger } from '../lib/log.js';
import { podEntries, type PodMemo } from './aggregate.js';
import { detectLayout, type CgroupLayout } from './cgroup/layout.js';
import { parseNetDev } from './cgroup/parse.js';
import { OpenFiles } from './cgroup/files.js';
import {
  cgroupExistsSync, limitsOf, readCgroupSync, readCpuTotal, readIdleMovedSync, readMemoryStatBytes, readMemoryUsage, readSmall,
} from './cgroup/reader.js';
import { DockerSource, identityKey, podFromLabels } from './docker.js';
import { readFs, readMachine } from './machine.js';
import { OomTracker } from './oom.js';
import type { CgroupSample, ContainerMeta, Entry, FsInfo, MachineInfo, NetInterfaceStats, Snapshot } from './types.js';

import { defaultMaxOpen, onKernelFs, type CollectorDeps, type CollectorOptions } from './collector-options.js';

export type { CollectorDeps, CollectorOptions } from './collector-options.js';

/** A container found unchanged is looked at again after at most this long (the kubelet's maxHousekeepingInterval). */
const MAX_HOUSEKEEPING_MS = 15_000;
/** The pass yields to the event loop after this many containers (reads are synchronous). */
const YIELD_EVERY = 32;
/** OOM counts are saved when they change, and at least this often (the replay point for Docker events). */
const OOM_SAVE_MS = 600_000;
/** Limits (CPU quota/shares, memory limits, pids.max) are re-read at least this often without an update event. */
const LIMITS_MS = 300_000;

export class Collector implements Lifecycle {
  readonly #opts: Required<Pick<CollectorOptions, 'housekeepingMs' | 'countFds' | 'procRoot'>> & CollectorOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #docker: Dockerode;
  #source: DockerSource | undefined;
  #layout: CgroupLayout | undefined;
  #oom: OomTracker;
  #machine: MachineInfo | undefined;
  #snapshot: Snapshot | undefined;
  #prev = new Map<string, { totalNs: number; time: number }>();
  /** The last full read per cgroup path, reused while the container is idle; limitsAt: when its limits were read. */
  #full = new Map<string, { sample: CgroupSample; at: number; limitsAt: number; memStat?: Buffer }>();
  /** Container ids a `docker update` changed since their last read: their limits are read again. */
  #limitsStale = new Set<string>();
  #rootLimits: ReturnType<typeof limitsOf> | undefined;
  #ac: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #events: Promise<void> | undefined;
  #housekeeping: Promise<void> | undefined;
  #dockerRoot = '/var/lib/docker';
  #lastSave = 0;
  #fs: { at: number; root?: FsInfo; image?: FsInfo } | undefined;
  #listeners = new Set<(s: Snapshot) => void>();
  /** The last /proc/<pid>/net/dev text and its parse, per pid (this pass's reads go to #netSeen). */
  #net = new Map<number, { bytes: Buffer; stats: NetInterfaceStats[] }>();
  #netSeen = new Map<number, { bytes: Buffer; stats: NetInterfaceStats[] }>();
  /** Each container's entry of the last pass (by cgroup path): reused while nothing in it moved. */
  #entries = new Map<string, Entry>();
  #podMemo: PodMemo = new Map();
  /** When a container's check last found nothing moved (by cgroup path). */
  #quiet = new Map<string, { at: number; interval: number }>();
  #keys = new WeakMap<ContainerMeta, string>();
  #files: OpenFiles | undefined;
  /** Duration of the last housekeeping, ms. */
  lastHousekeepingMs = 0;

  constructor(deps: CollectorDeps, opts: CollectorOptions = {}) {
    this.#opts = { housekeepingMs: 10_000, countFds: true, procRoot: '/proc', ...opts };
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'metrics');
    this.#docker = deps.docker;
    this.#oom = new OomTracker(opts.stateDir);
  }

  /** The latest snapshot (undefined before the first housekeeping). */
  snapshot(): Snapshot | undefined {
    return this.#snapshot;
  }

  /** A container inspect made elsewhere (the agent's runtime): spares the collector its own (DockerSource.offer). */
  offerInspect(info: Dockerode.ContainerInspectInfo): void {
    this.#source?.offer(info);
  }

  /**
   * Calls `fn` with every new snapshot, soon after its housekeeping (never inside it); returns the
   * unsubscribe function. Endpoints use it to prebuild their response while someone scrapes them.
   */
  onSnapshot(fn: (s: Snapshot) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Reads machine facts, loads OOM counts, runs the first housekeeping, then keeps going. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#ac) return;
    const ac = new AbortController();
    this.#ac = ac;
    const onAbort = () => ac.abort();
    if (signal.aborted) ac.abort();
    else signal.addEventListener('abort', onAbort, { once: true });
    this.#layout = this.#opts.layout ?? detectLayout(this.#opts.cgroupRoot);
    const maxOpen = this.#opts.maxOpenFiles ?? defaultMaxOpen();
    if (maxOpen > 0 && onKernelFs(this.#layout, this.#opts.procRoot)) this.#files = new OpenFiles(maxOpen);
    this.#source = new DockerSource(this.#docker, {
      podsOnly: this.#opts.podsOnly ?? false, nodeName: this.#opts.nodeName, procRoot: this.#opts.procRoot, cgroupVersion: this.#layout.version,
      now: () => this.#clock.now(),
    }, this.#log);
    this.#oom.load();
    let dockerVersion = '';
    try {
      const info = await this.#source.info();
      dockerVersion = info.version;
      this.#dockerRoot = info.rootDir;
    } catch (err) {
      this.#log.warn({ err }, 'docker info failed; container metrics wait for the daemon');
    }
    this.#machine = await readMachine(dockerVersion);
    const since = this.#oom.savedAt || undefined;
    this.#events = this.#source.watch(ac.signal, since, (action, id, attrs, at) => this.#onEvent(action, id, attrs, at));
    await this.housekeep();
    this.#loop = this.#run(ac.signal);
  }

  async stop(): Promise<void> {
    this.#ac?.abort();
    await Promise.allSettled([this.#loop, this.#events, this.#housekeeping]);
    this.#files?.close();
    this.#oom.save(this.#clock.now(), true);
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#clock.sleep(this.#opts.housekeepingMs, signal);
      if (signal.aborted) break;
      await this.housekeep();
    }
  }

  #onEvent(action: string, id: string, attrs: Record<string, string>, at: number): void {
    if (action === 'update') {
      this.#limitsStale.add(id);
      return;
    }
    if (action !== 'oom' && action !== 'start') return;
    const pod = podFromLabels(attrs);
    if (this.#opts.podsOnly && !pod) return;
    const key = identityKey({ name: attrs.name ?? id, ...(pod ? { pod } : {}) } as ContainerMeta);
    if (action === 'start') {
      this.#oom.restarted(id, key, at);
      return;
    }
    this.#oom.event(id, key, at);
    this.#log.info({ id: id.slice(0, 12), identity: key }, 'container OOM event');
  }

  /** One housekeeping pass; concurrent calls share the pass in flight. */
  housekeep(): Promise<void> {
    this.#housekeeping ??= this.#housekeepOnce().finally(() => { this.#housekeeping = undefined; });
    return this.#housekeeping;
  }

  async #housekeepOnce(): Promise<void> {
    const layout = this.#layout ?? detectLayout(this.#opts.cgroupRoot);
    const started = performance.now();
    const now = this.#clock.now();
    let metas: ContainerMeta[] | undefined;
    let scrapeError = false;
    try {
      metas = await this.#source!.list();
    } catch (err) {
      scrapeError = true;
      this.#log.warn({ err }, 'listing docker containers failed');
    }
    const readOpts = { procRoot: this.#opts.procRoot, countFds: this.#opts.countFds };
    const containers: Entry[] = [];
    const reused = new Set<Entry>();
    if (metas) {
      const entries = new Map<string, Entry>();
      let n = 0;
      for (const meta of metas) {
        if (++n % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        const path = meta.cgroupPath;
        const last = this.#entries.get(path);
        const quiet = this.#quiet.get(path);
        if (last && last.meta === meta && quiet !== undefined && now - quiet.at < quiet.interval && !this.#limitsStale.has(meta.id)) {
          // Dynamic housekeeping (cAdvisor's allow_dynamic_housekeeping, the kubelet's 15 s maximum): each
          // look that finds a container unchanged doubles its interval, up to the maximum.
          const e: Entry = { ...last };
          const net = this.#net.get(meta.pid);
          if (net) this.#netSeen.set(meta.pid, net); // its netns file stays open, its parse stays known
          reused.add(e);
          entries.set(path, e);
          containers.push(e);
          continue;
        }
        const sample = this.#read(layout, path, now, readOpts, this.#limitsStale.delete(meta.id));
        if (!sample) continue; // gone mid-pass
        const readAt = this.#clock.now(); // the sample's own time: rates stay exact when a pass is slow
        const ownNet = !meta.networkMode.startsWith('container:') && meta.networkMode !== 'host';
        const network = ownNet ? this.#netDev(meta.pid) : NO_NET;
        let e: Entry;
        if (last && last.sample === sample && last.network === network && last.meta === meta) {
          e = this.#entry({ ...last, time: readAt }); // nothing moved: the same values, read now
          reused.add(e);
          const interval = Math.min(MAX_HOUSEKEEPING_MS, 2 * (quiet?.interval ?? this.#opts.housekeepingMs));
          this.#quiet.set(path, { at: now, interval });
        } else {
          e = this.#entry({ id: path, kind: 'container', meta, sample, network, oomEvents: 0, time: readAt, startTime: meta.createdAt });
          this.#quiet.delete(path);
        }
        entries.set(e.id, e);
        containers.push(e);
      }
      this.#entries = entries;
      for (const path of this.#quiet.keys()) if (!entries.has(path)) this.#quiet.delete(path);
      containers.sort((a, b) => (a.id < b.id ? -1 : 1));
      this.#countOoms(containers, reused, now);
    } else if (this.#snapshot) {
      containers.push(...this.#snapshot.containers);
    }
    // The root's limit files never change: read once.
    const rootSample = readCgroupSync(layout, '/', {
      procRoot: this.#opts.procRoot, countFds: false, ...(this.#files ? { files: this.#files } : {}), ...(this.#rootLimits ? { limits: this.#rootLimits } : {}),
    });
    this.#rootLimits ??= limitsOf(rootSample);
    const node = this.#entry({
      id: '/', kind: 'node', sample: rootSample, network: this.#netDev(1), oomEvents: 0, time: now,
      startTime: this.#machine?.bootTime ?? 0,
    });
    // Filesystem capacity changes slowly: statfs once a minute (the kubelet's fs stats are cached as long).
    if (!this.#fs || now - this.#fs.at >= 60_000) {
      const [root, image] = await Promise.all([readFs('/'), readFs(this.#dockerRoot)]);
      this.#fs = { at: now, ...(root ? { root } : {}), ...(image ? { image } : {}) };
    }
    const rootFs = this.#fs.root;
    const imageFs = this.#fs.image;
    const pods = podEntries(containers, this.#podMemo);
    this.#readPodCgroups(layout, pods, containers, reused, now, readOpts);
    const live = new Set(containers.map((c) => c.id));
    for (const p of pods) live.add(p.id);
    live.add('/');
    for (const id of this.#prev.keys()) if (!live.has(id)) this.#prev.delete(id);
    for (const id of this.#full.keys()) if (!live.has(id)) this.#full.delete(id);
    this.#net = this.#netSeen; // pids not read this pass are forgotten
    this.#netSeen = new Map();
    if (this.#files) {
      // Files of containers and netns no longer measured are closed (an open net/dev keeps its netns alive).
      for (const pid of this.#net.keys()) live.add(`pid:${pid}`);
      this.#files.retain(live);
    }
    this.#snapshot = {
      time: now, node, pods, containers, machine: this.#machine ?? (await readMachine()),
      ...(rootFs ? { rootFs } : {}), ...(imageFs ? { imageFs } : {}),
      devices: this.#snapshot?.devices ?? new Map(), scrapeError,
    };
    this.lastHousekeepingMs = performance.now() - started;
    if (this.#listeners.size > 0) {
      const snap = this.#snapshot;
      setImmediate(() => {
        for (const fn of this.#listeners) {
          try {
            fn(snap);
          } catch (err) {
            this.#log.warn({ err }, 'snapshot listener failed');
          }
        }
      });
    }
  }

  /** A container's sample: the last full read while its CPU time stands still, else a full read. */
  #read(layout: CgroupLayout, path: string, now: number, opts: { procRoot: string; countFds: boolean }, limitsStale = false): CgroupSample | undefined {
    const files = this.#files;
    const cpu = readCpuTotal(layout, path, files);
    if (cpu === undefined && !cgroupExistsSync(layout, path)) return undefined;
    const last = this.#full.get(path);
    const reuse = this.#opts.idleReuseMs ?? 300_000;
    // CPU time standing still = nothing ran: the last read holds while memory usage and memory.stat do too;
    // else only memory and block I/O (writeback) moved: those alone are read again (all every idleReuseMs).
    const idle = last !== undefined && cpu !== undefined && last.sample.cpu.totalNs === cpu;
    if (idle && now - last.at < reuse && !limitsStale) {
      const usage = readMemoryUsage(layout, path, files);
      const stat = usage === undefined ? undefined : readMemoryStatBytes(layout, path, files, last.memStat);
      if (stat !== undefined && usage === last.sample.memory.usage && stat === last.memStat) return last.sample;
      const moved = stat === undefined ? undefined : readIdleMovedSync(layout, path, files);
      if (moved) return this.#full.set(path, { ...last, sample: { ...last.sample, ...moved }, memStat: stat }).get(path)!.sample;
    }
    // An idle cgroup opened no file: keep the fd count (a readdir of /proc/<pid>/fd per process, the dearest
    // part). Limits change only through `docker update` (an event): read again on one, else every LIMITS_MS.
    const limits = last && !limitsStale && now - last.limitsAt < LIMITS_MS ? limitsOf(last.sample) : undefined;
    const sample = readCgroupSync(layout, path, {
      ...opts, countFds: opts.countFds && !idle, ...(files ? { files } : {}), ...(limits ? { limits } : {}),
    });
    if (idle && opts.countFds) sample.processes.fds = last.sample.processes.fds;
    if (sample.cpu.totalNs === 0 && !cgroupExistsSync(layout, path)) return undefined;
    const memStat = readMemoryStatBytes(layout, path, files, last?.memStat);
    this.#full.set(path, { sample, at: now, limitsAt: limits ? last!.limitsAt : now, ...(memStat ? { memStat } : {}) });
    return sample;
  }

  /**
   * Pods whose containers sit in a pod cgroup of their own (the agent's CgroupParent
   * /kubepods/<qos>/pod<uid>): CPU, memory, I/O and limits come from that cgroup, as the kubelet's
   * cAdvisor reads them (hierarchical, so the pod's CPU counter stays monotonic when a container
   * restarts); process and fd counts stay the sum of the containers'. Other pods keep the sum.
   */
  #readPodCgroups(layout: CgroupLayout, pods: Entry[], containers: Entry[], reused: Set<Entry>, now: number,
    opts: { procRoot: string; countFds: boolean }): void {
    const byUid = new Map<string, Entry[]>();
    for (const c of containers) {
      const uid = c.meta?.pod?.uid;
      if (!uid) continue;
      const list = byUid.get(uid);
      if (list) list.push(c);
      else byUid.set(uid, [c]);
    }
    for (const p of pods) {
      const uid = p.pod?.uid;
      if (!uid || p.id === '/') continue;
      const members = byUid.get(uid) ?? [];
      if (members.length === 0 || !members.every((c) => c.id.startsWith(`${p.id}/`))) continue;
      // Nothing moved in any container: the pod cgroup (only theirs inside) did not move either.
      const last = members.every((c) => reused.has(c)) ? this.#full.get(p.id) : undefined;
      const sample = last ? last.sample : this.#read(layout, p.id, now, { ...opts, countFds: false });
      if (!sample) continue;
      p.sample = { ...sample, processes: p.sample.processes, pids: p.sample.pids };
      delete p.usageNanoCores;
      this.#entry(p);
    }
  }

  /** Adds the CPU rate from the previous sample of the same id. */
  #entry(e: Entry): Entry {
    const prev = this.#prev.get(e.id);
    if (prev && e.time > prev.time && e.sample.cpu.totalNs >= prev.totalNs) {
      e.usageNanoCores = Math.round(((e.sample.cpu.totalNs - prev.totalNs) / (e.time - prev.time)) * 1e3);
    } else if (prev && e.time === prev.time && e.sample.cpu.totalNs === prev.totalNs) {
      e.usageNanoCores = 0; // not looked at again (dynamic housekeeping): it was still at the last look
      return e;
    }
    this.#prev.set(e.id, { totalNs: e.sample.cpu.totalNs, time: e.time });
    return e;
  }

  /** The OOM identity of a container (kept per meta: a meta object lives as long as its container). */
  #key(meta: ContainerMeta): string {
    let k = this.#keys.get(meta);
    if (k === undefined) {
      k = identityKey(meta);
      this.#keys.set(meta, k);
    }
    return k;
  }

  #countOoms(containers: Entry[], reused: Set<Entry>, now: number): void {
    const ids = new Set<string>();
    for (const c of containers) {
      const meta = c.meta!;
      ids.add(meta.id);
      const key = this.#key(meta);
      // A reused entry's kernel counter is the one already recorded (nothing ran: no OOM kill).
      if (c.sample.oomKills !== undefined) {
        if (!reused.has(c)) this.#oom.kernel(meta.id, key, c.sample.oomKills, now);
      } else this.#oom.noKernel(meta.id, key);
    }
    this.#oom.gone(ids);
    for (const c of containers) c.oomEvents = this.#oom.total(this.#key(c.meta!));
    try {
      if (this.#oom.save(now, now - this.#lastSave > OOM_SAVE_MS)) this.#lastSave = now;
    } catch (err) {
      this.#log.warn({ err }, 'saving OOM counts failed');
    }
  }

  /** A pid's interfaces; an unchanged /proc/<pid>/net/dev (idle pods mostly) returns the same array. */
  #netDev(pid: number): NetInterfaceStats[] {
    if (pid <= 0) return NO_NET;
    const path = `${this.#opts.procRoot}/${pid}/net/dev`;
    const last = this.#net.get(pid) ?? this.#netSeen.get(pid);
    let bytes: Buffer | undefined;
    if (this.#files) bytes = this.#files.bytes(`pid:${pid}`, path, last?.bytes);
    else {
      const text = readSmall(path);
      bytes = text === undefined ? undefined : Buffer.from(text);
    }
    if (bytes === undefined) return NO_NET;
    const stats = last && (last.bytes === bytes || last.bytes.equals(bytes)) ? last.stats : parseNetDev(bytes.toString('utf8'));
    this.#netSeen.set(pid, { bytes: last?.bytes === bytes ? last.bytes : bytes, stats });
    return stats;
  }
}

const NO_NET: NetInterfaceStats[] = [];
