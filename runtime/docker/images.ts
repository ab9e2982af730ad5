// Image operations over dockerode (dockershim's image service): inspect, list, pull with progress,
// registry credentials and Docker's error text, remove, and the image filesystem's usage for image GC.
import { statfs } from 'node:fs/promises';
import type Dockerode from 'dockerode';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { ImageInfo, PullProgress } from '../types.js';
import { isNotFound, toDockerletError } from './errors.js';

export function imageInfoFromInspect(i: Dockerode.ImageInspectInfo): ImageInfo {
  const info: ImageInfo = { id: i.Id, repoTags: i.RepoTags ?? [], repoDigests: i.RepoDigests ?? [] };
  const stopSignal = (i.Config as { StopSignal?: string } | undefined)?.StopSignal;
  if (stopSignal) info.stopSignal = stopSignal;
  if (typeof i.Size === 'number') info.sizeBytes = i.Size;
  return info;
}

export async function inspectImage(docker: Dockerode, ref: string): Promise<ImageInfo | undefined> {
  try {
    return imageInfoFromInspect(await docker.getImage(ref).inspect());
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw toDockerletError('inspect-image', err, { image: ref });
  }
}

export async function listImages(docker: Dockerode): Promise<ImageInfo[]> {
  try {
    const list = await docker.listImages({ all: false });
    return list.map((i) => ({
      id: i.Id,
      repoTags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
      repoDigests: (i.RepoDigests ?? []).filter((d) => d !== '<none>@<none>'),
      sizeBytes: i.Size,
    }));
  } catch (err) {
    throw toDockerletError('list-images', err);
  }
}

interface PullEvent {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  progressDetail?: { current?: number; total?: number };
  id?: string;
}

/** A registry credential for one pull (Docker's AuthConfig, sent as X-Registry-Auth; never logged). */
export interface PullAuth {
  username: string;
  password: string;
  serveraddress: string;
  email?: string;
}

/**
 * Pulls ref (tag defaults to latest, as Kubernetes does), with auth when given. Errors, whether an HTTP
 * error before the stream or an `error` line inside it, become IMAGE_PULL (INVALID_IMAGE_NAME for a
 * bad reference) carrying Docker's message.
 */
export async function pullImage(
  docker: Dockerode,
  ref: string,
  onProgress?: (p: PullProgress) => void,
  signal?: AbortSignal,
  auth?: PullAuth,
): Promise<ImageInfo> {
  let stream: NodeJS.ReadableStream;
  try {
    const opts: Record<string, unknown> = {};
    if (signal) opts.abortSignal = signal;
    if (auth) opts.authconfig = { ...auth };
    stream = (await docker.pull(ref, opts)) as NodeJS.ReadableStream;
  } catch (err) {
    throw toDockerletError('pull', err, { image: ref });
  }
  const streamError = await new Promise<string | undefined>((resolve, reject) => {
    let failure: string | undefined;
    const onAbort = () => {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      reject(new DockerletError(ErrorCodes.IMAGE_PULL, `pull of ${ref} aborted`, { details: { image: ref } }));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    docker.modem.followProgress(
      stream,
      (err) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(toDockerletError('pull', err, { image: ref }));
        else resolve(failure);
      },
      (ev: PullEvent) => {
        if (ev.error || ev.errorDetail?.message) {
          failure ??= (ev.errorDetail?.message ?? ev.error ?? 'unknown error').trim();
          return;
        }
        if (!onProgress || !ev.status) return;
        const p: PullProgress = { status: ev.id ? `${ev.id}: ${ev.status}` : ev.status };
        if (ev.progressDetail?.current !== undefined) p.current = ev.progressDetail.current;
        if (ev.progressDetail?.total !== undefined) p.total = ev.progressDetail.total;
        onProgress(p);
      },
    );
  });
  if (streamError !== undefined) {
    const code = /invalid reference format/i.test(streamError) ? ErrorCodes.INVALID_IMAGE_NAME : ErrorCodes.IMAGE_PULL;
    throw new DockerletError(code, `docker pull failed: ${streamError}`, { details: { op: 'pull', image: ref } });
  }
  const info = await inspectImage(docker, ref);
  if (!info) {
    throw new DockerletError(ErrorCodes.IMAGE_PULL, `docker pull of ${ref} finished but the image is not present`, {
      details: { op: 'pull', image: ref },
    });
  }
  return info;
}

/** Removes an image by id (image GC: never forced, so Docker refuses one a container still uses). */
export async function removeImage(docker: Dockerode, id: string): Promise<void> {
  try {
    await docker.getImage(id).remove({ force: false, noprune: false });
  } catch (err) {
    if (isNotFound(err)) return;
    throw toDockerletError('remove', err, { image: id });
  }
}

/** Ids of the images of every container, running or not (upstream image GC's "in use"). */
export async function imagesInUse(docker: Dockerode): Promise<Set<string>> {
  try {
    const list = await docker.listContainers({ all: true });
    return new Set(list.map((c) => c.ImageID).filter((id): id is string => typeof id === 'string' && id !== ''));
  } catch (err) {
    throw toDockerletError('list', err);
  }
}

/** The image filesystem (Docker's root dir) as statfs sees it. */
export async function imageFsStats(docker: Dockerode): Promise<{ capacityBytes: number; availableBytes: number; path: string }> {
  let path: string;
  try {
    path = ((await docker.info()) as { DockerRootDir?: string }).DockerRootDir ?? '/var/lib/docker';
  } catch (err) {
    throw toDockerletError('version', err);
  }
  const s = await statfs(path);
  return { capacityBytes: s.blocks * s.bsize, availableBytes: s.bavail * s.bsize, path };
}

const PRESENCE_CACHE_MAX = 500;

/**
 * Which image references are present, remembered while the image event stream is connected (any
 * pull/tag/untag/delete/import/load event, or the stream breaking, forgets everything): one image
 * inspect per reference instead of one per container start. Only "present" is remembered; a miss
 * always asks Docker. A create that fails with 404 forgets too (an event may lag a removal).
 */
export class ImagePresence {
  readonly #present = new Map<string, ImageInfo>();
  #live = false;
  #generation = 0;
  hits = 0;

  /** The image event stream connected (true) or broke (false). */
  setLive(live: boolean): void {
    this.#live = live;
    this.invalidate();
  }

  invalidate(): void {
    this.#generation++;
    this.#present.clear();
  }

  async inspect(ref: string, inspect: () => Promise<ImageInfo | undefined>): Promise<ImageInfo | undefined> {
    const hit = this.#live ? this.#present.get(ref) : undefined;
    if (hit) {
      this.hits++;
      return structuredClone(hit);
    }
    const generation = this.#generation;
    const info = await inspect();
    // An event during the inspect may already have made its answer old: keep it only when none came.
    if (info && this.#live && generation === this.#generation) {
      if (this.#present.size >= PRESENCE_CACHE_MAX) this.#present.clear();
      this.#present.set(ref, structuredClone(info));
    }
    return info;
  }
}
