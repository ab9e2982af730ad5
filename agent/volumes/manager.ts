// Per-pod volumes under <rootDir>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>: set up before the
// pod's containers start, refreshed periodically (configMap/secret/downwardAPI/projected contents,
// token rotation), torn down (tmpfs unmounted, directory removed) after the pod is gone. ConfigMaps and
// Secrets are read through one shared cache (./object-cache.ts, the kubelet's Cache strategy).
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import { chmod, readdir, realpath, stat } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import path from 'node:path';
import type { Container, Pod, Volume } from '../../kube/api.js';
import type { KubeClient } from '../../kube/types.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { partLogger, type Logger } from '../../lib/log.js';
import type { Mount } from '../../runtime/types.js';
import type { Allocatable } from '../containers/fieldpath.js';
import { bytesOf } from '../containers/quantity.js';
import { writeAtomic } from './atomic-writer.js';
import type { Payload } from './payload.js';
import { volumePayload, type ContentDeps } from './contents.js';
import { checkHostPath } from './hostpath.js';
import { ObjectCache, type Freshness } from './object-cache.js';
import { mountsFor, type PreparedVolume, type VolumeKind } from './mounts.js';
import { setVolumeOwnership, type FsGroupChangePolicy } from './ownership.js';
import { ensureTmpfs, isMountPoint, mountsUnder, unmount } from './mounts-host.js';
import { removeAllOneFilesystem } from './remove.js';
import { refreshAt, type IssuedToken } from './tokens.js';

export type { PreparedVolume, VolumeKind } from './mounts.js';

export interface VolumeManagerDeps {
  rootDir: string;
  client?: KubeClient;
  clock?: Clock;
  log?: Logger;
  nodeName: string;
  /**
   * How old a shared ConfigMap/Secret copy a periodic refresh may use (the Cache strategy's TTL);
   * a pod being set up always gets a copy fetched after its set-up began. Default 10 s.
   */
  objectTtlMs?: number;
  /** Node allocatable for downward API limits the containers leave unset (default: this host's CPUs/RAM). */
  allocatable?: Allocatable | (() => Allocatable);
}

export interface RefreshResult {
  /** Volumes whose files were rewritten. */
  updated: string[];
  /** Volumes that could not be refreshed (their previous content stays). */
  errors: { volume: string; message: string }[];
}

export const DEFAULT_REFRESH_MS = 60_000;
export const DEFAULT_OBJECT_TTL_MS = 10_000;
const MIN_REFRESH_MS = 1_000;
/** An unchanged payload is still compared with the files on disk this often (someone may have touched them). */
const DISK_CHECK_MS = 10 * 60_000;

/** The payload's paths, modes and bytes, and the fsGroup, hashed. */
function payloadFingerprint(payload: Payload, fsGroup: number | undefined): string {
  const h = createHash('sha256');
  h.update(`fsGroup=${fsGroup ?? ''}\n`);
  for (const [p, f] of [...payload].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    h.update(`${p}\0${f.mode}\0${f.data.length}\0`);
    h.update(f.data);
  }
  return h.digest('hex');
}

const PLUGIN_DIR: Record<VolumeKind, string | undefined> = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
  hostPath: undefined,
};

const KNOWN_KEYS = new Set(['name', 'emptyDir', 'hostPath', 'configMap', 'secret', 'downwardAPI', 'projected']);

export function volumeKind(v: Volume): VolumeKind | undefined {
  if (v.emptyDir) return 'emptyDir';
  if (v.hostPath) return 'hostPath';
  if (v.configMap) return 'configMap';
  if (v.secret) return 'secret';
  if (v.downwardAPI) return 'downwardAPI';
  if (v.projected) return 'projected';
  return undefined;
}

function setupError(vol: string, message: string, cause?: unknown): DockerletError {
  return new DockerletError(ErrorCodes.VOLUME, `MountVolume.SetUp failed for volume "${vol}" : ${message}`, {
    cause,
    details: { volume: vol },
  });
}

/** VOLUME errors of the parts (details.reason) that setup still wraps with the volume's name. */
const PART_REASONS = new Set(['payload', 'path', 'hostPath', 'token', 'mount']);

function isSetupError(err: unknown): err is DockerletError {
  return err instanceof DockerletError && err.code === ErrorCodes.VOLUME && !PART_REASONS.has(err.details.reason as string);
}

/** The message safe to surface: our own errors verbatim, anything else by its message (never contents). */
function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class VolumeManager {
  readonly #root: string;
  readonly #client: KubeClient | undefined;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #alloc: Allocatable | (() => Allocatable) | undefined;
  #hostAlloc: Allocatable | undefined;
  readonly #tokens = new Map<string, IssuedToken>();
  /** Per volume directory: the fingerprint of the payload last written (or found) there, and when. */
  readonly #written = new Map<string, { fp: string; at: number }>();
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #objects: ObjectCache;
  readonly #objectTtlMs: number;

  constructor(deps: VolumeManagerDeps) {
    this.#root = path.resolve(deps.rootDir);
    this.#client = deps.client;
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'volumes', { node: deps.nodeName });
    this.#alloc = deps.allocatable;
    this.#objects = new ObjectCache(this.#clock);
    this.#objectTtlMs = deps.objectTtlMs ?? DEFAULT_OBJECT_TTL_MS;
  }

  /** ConfigMap/Secret GETs made (shared between pods). */
  get objectFetches(): number {
    return this.#objects.fetches;
  }

  /** ConfigMaps/Secrets held for live pods (memory-bound checks). */
  objectsHeld(): number {
    return this.#objects.size();
  }

  podDir(podUid: string): string {
    if (!podUid || podUid.includes('/') || podUid.startsWith('.')) throw new DockerletError(ErrorCodes.VOLUME, `invalid pod uid ${JSON.stringify(podUid)}`);
    return path.join(this.#root, 'pods', podUid);
  }

  volumeDir(podUid: string, kind: VolumeKind, name: string): string {
    const plugin = PLUGIN_DIR[kind];
    if (!plugin) throw new DockerletError(ErrorCodes.VOLUME, `${kind} volumes have no pod directory`);
    return path.join(this.podDir(podUid), 'volumes', plugin, name);
  }

  /** Prepares every pod.spec.volumes entry; idempotent (re-running keeps existing mounts and content). */
  async setup(pod: Pod): Promise<Map<string, PreparedVolume>> {
    const uid = this.#uid(pod);
    const fresh = { afterMark: this.#objects.mark() };
    return this.#withLock(uid, async () => {
      const out = new Map<string, PreparedVolume>();
      mkdirSync(path.join(this.podDir(uid), 'volumes'), { recursive: true, mode: 0o750 });
      for (const vol of pod.spec.volumes ?? []) out.set(vol.name, await this.#setupOne(pod, vol, fresh));
      return out;
    });
  }

  mountsFor(pod: Pod, container: Container, prepared: ReadonlyMap<string, PreparedVolume>, env?: ReadonlyMap<string, string>): Mount[] {
    return mountsFor(pod, container, prepared, env);
  }

  /** Re-fetches API-backed volume contents and swaps them in atomically when they changed. */
  async refresh(pod: Pod): Promise<RefreshResult> {
    const uid = this.#uid(pod);
    return this.#withLock(uid, async () => {
      const res: RefreshResult = { updated: [], errors: [] };
      for (const vol of pod.spec.volumes ?? []) {
        const kind = volumeKind(vol);
        if (!kind || kind === 'emptyDir' || kind === 'hostPath') continue;
        const dir = this.volumeDir(uid, kind, vol.name);
        if (!this.#written.has(dir) && !(await exists(dir))) continue; // never set up (or torn down)
        try {
          if (await this.#writeContents(pod, vol, dir, { maxAgeMs: this.#objectTtlMs })) res.updated.push(vol.name);
        } catch (err) {
          res.errors.push({ volume: vol.name, message: reason(err) });
        }
      }
      if (res.updated.length) this.#log.info({ pod: podRef(pod), volumes: res.updated }, 'volume contents updated');
      for (const e of res.errors) this.#log.warn({ pod: podRef(pod), volume: e.volume, err: e.message }, 'volume refresh failed');
      return res;
    });
  }

  /** Milliseconds until refresh(pod) should run next: the earliest token rotation, at most 60 s. */
  nextRefreshDelay(pod: Pod): number {
    const prefix = `${pod.metadata.uid ?? ''}|`;
    let delay = DEFAULT_REFRESH_MS;
    const now = this.#clock.now();
    for (const [k, t] of this.#tokens) if (k.startsWith(prefix)) delay = Math.min(delay, refreshAt(t) - now);
    return Math.max(MIN_REFRESH_MS, delay);
  }

  /**
   * Unmounts every mount under the pod directory and removes it; a no-op when already gone. The
   * volume directories are unmounted where they are mount points (st_dev), then the directory is
   * removed without crossing a mount point (RemoveAllOneFilesystem); only when that meets one (a mount
   * the agent did not make) are all mounts under the directory looked up in /proc/mounts.
   */
  async teardown(podUid: string): Promise<void> {
    const dir = this.podDir(podUid);
    await this.#withLock(podUid, async () => {
      await this.#unmountVolumeDirs(dir);
      try {
        await removeAllOneFilesystem(dir);
      } catch (err) {
        if (!(err instanceof DockerletError && err.details.reason === 'mounted')) throw err;
        await this.#unmountAllUnder(dir);
        await removeAllOneFilesystem(dir);
      }
      for (const k of [...this.#tokens.keys()]) if (k.startsWith(`${podUid}|`)) this.#tokens.delete(k);
      for (const k of [...this.#written.keys()]) if (k.startsWith(`${dir}${path.sep}`)) this.#written.delete(k);
      this.#objects.release(podUid);
      this.#log.debug({ podUid }, 'pod volumes torn down');
    });
  }

  /** volumes/<plugin>/<name> mount points (the tmpfs volumes), each unmounted until none is stacked there. */
  async #unmountVolumeDirs(dir: string): Promise<void> {
    const volumes = path.join(dir, 'volumes');
    for (const plugin of await readdir(volumes).catch(() => [] as string[])) {
      for (const name of await readdir(path.join(volumes, plugin)).catch(() => [] as string[])) {
        const p = path.join(volumes, plugin, name);
        for (let i = 0; i < 8 && (await isMountPoint(p).catch(() => false)); i++) await unmount(p, { root: this.#root });
      }
    }
  }

  /** Every mount under dir (or its real path) from /proc/mounts, deepest first; throws when one stays. */
  async #unmountAllUnder(dir: string): Promise<void> {
    const prefixes = [...new Set([dir, await realpathOr(dir)])];
    for (const m of await mountsUnder(prefixes)) await unmount(m.mountpoint, { root: this.#root });
    const left = await mountsUnder(prefixes);
    if (left.length) throw new DockerletError(ErrorCodes.VOLUME, `cannot remove pod directory ${dir}: still mounted at ${left[0]?.mountpoint}`);
  }

  async #setupOne(pod: Pod, vol: Volume, fresh: Freshness): Promise<PreparedVolume> {
    const kind = volumeKind(vol);
    if (!kind) {
      const type = Object.keys(vol).find((k) => !KNOWN_KEYS.has(k)) ?? 'unknown';
      throw setupError(vol.name, `volume type ${type} is not supported by dockerlet`);
    }
    const uid = this.#uid(pod);
    try {
      if (kind === 'hostPath') {
        const hp = vol.hostPath!;
        await checkHostPath(hp.path, hp.type);
        return { hostPath: hp.path, kind };
      }
      const dir = this.volumeDir(uid, kind, vol.name);
      mkdirSync(dir, { recursive: true, mode: 0o750 });
      const fsGroup = pod.spec.securityContext?.fsGroup;
      if (kind === 'emptyDir') {
        if (vol.emptyDir?.medium === 'Memory') await ensureTmpfs(dir, { root: this.#root, sizeBytes: bytesOf(vol.emptyDir.sizeLimit) || undefined });
        // Containers may run as any uid: the emptyDir root is world-writable; with fsGroup the whole
        // volume (content left from before an agent restart too) gets the group, setgid and g+rw.
        await chmod(dir, 0o777 | ((await stat(dir)).mode & 0o2000));
        const policy = (pod.spec.securityContext as { fsGroupChangePolicy?: FsGroupChangePolicy } | undefined)?.fsGroupChangePolicy;
        await setVolumeOwnership(dir, fsGroup, policy ? { policy } : {});
        return { hostPath: dir, kind };
      }
      // secret and projected are memory-backed (tmpfs) like upstream; configMap/downwardAPI are on disk.
      if (kind === 'secret' || kind === 'projected') await ensureTmpfs(dir, { root: this.#root });
      else chmodSync(dir, 0o777);
      await this.#writeContents(pod, vol, dir, fresh);
      return { hostPath: dir, readOnly: true, kind };
    } catch (err) {
      if (isSetupError(err)) throw err;
      throw setupError(vol.name, reason(err), err);
    }
  }

  async #writeContents(pod: Pod, vol: Volume, dir: string, fresh: Freshness): Promise<boolean> {
    const deps: ContentDeps = {
      client: this.#client,
      clock: this.#clock,
      allocatable: () => this.#allocatable(),
      tokens: this.#tokens,
      objects: { cache: this.#objects, fresh },
    };
    const payload = await volumePayload(pod, vol, deps);
    if (!payload) return false;
    const fsGroup = pod.spec.securityContext?.fsGroup;
    // The payload this agent last wrote there, unchanged: no look at the files (a periodic refresh of
    // 100 pods read ~1000 files a minute for nothing). The disk is compared again at least every 10 min.
    const fp = payloadFingerprint(payload, fsGroup);
    const now = this.#clock.now();
    const last = this.#written.get(dir);
    if (last && last.fp === fp && now - last.at < DISK_CHECK_MS) return false;
    const changed = await writeAtomic(dir, payload, { now, fsGroup });
    this.#written.set(dir, { fp, at: now });
    if (changed) this.#log.debug({ pod: podRef(pod), volume: vol.name, files: payload.size }, 'volume contents written');
    return changed;
  }

  #allocatable(): Allocatable {
    if (typeof this.#alloc === 'function') return this.#alloc();
    // os.totalmem() reads /proc/meminfo: once.
    this.#hostAlloc ??= { cpuMillis: availableParallelism() * 1000, memoryBytes: totalmem() };
    return this.#alloc ?? this.#hostAlloc;
  }

  #uid(pod: Pod): string {
    const uid = pod.metadata.uid;
    if (!uid) throw new DockerletError(ErrorCodes.VOLUME, `pod ${podRef(pod)} has no uid`);
    return uid;
  }

  /** Serialises setup/refresh/teardown per pod. */
  async #withLock<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(uid) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(uid, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(uid) === tail) this.#locks.delete(uid);
    }
  }
}

function podRef(pod: Pod): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function realpathOr(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    return p;
  }
}
