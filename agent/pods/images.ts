// Image handling for the pod worker: reference validation, pull policy, pulls with progress in
// the log and Events, and ErrImagePull → ImagePullBackOff back-off per pod container.
import type { Container } from '../../kube/api.js';
import { Backoff } from '../../lib/backoff.js';
import type { Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { ContainerRuntime, ImageInfo } from '../../runtime/types.js';

// A reference as Docker's distribution/reference grammar accepts it (name[:tag][@digest]).
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?';
const REFERENCE = new RegExp(`^${DOMAIN}${COMPONENT}(?:/${COMPONENT})*(?::[\\w][\\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`);

export function isValidImageRef(ref: string): boolean {
  return ref.length > 0 && ref.length <= 255 && REFERENCE.test(ref);
}

function hasTagOrDigest(ref: string): boolean {
  if (ref.includes('@')) return true;
  const lastSlash = ref.lastIndexOf('/');
  return ref.slice(lastSlash + 1).includes(':');
}

/** The API server's default: Always for :latest or no tag, IfNotPresent otherwise. */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  if (!hasTagOrDigest(image) || image.endsWith(':latest')) return 'Always';
  return 'IfNotPresent';
}

/** dockershim's image-pull-progress-deadline: a pull silent this long is cancelled. */
const PROGRESS_DEADLINE_MS = 60_000;

export interface ImageEvents {
  (type: 'Normal' | 'Warning', reason: string, message: string): void;
}

export class ImageManager {
  readonly #runtime: ContainerRuntime;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #lastFailure = new Map<string, { at: number; message: string }>();
  readonly #clock: Clock;
  readonly #inflight = new Map<string, Pull>();
  readonly #progressDeadlineMs: number;

  constructor(runtime: ContainerRuntime, clock: Clock, log: Logger, opts: { progressDeadlineMs?: number } = {}) {
    this.#runtime = runtime;
    this.#clock = clock;
    this.#log = log;
    this.#progressDeadlineMs = opts.progressDeadlineMs ?? PROGRESS_DEADLINE_MS;
    this.#backoff = new Backoff({ initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 }, clock);
  }

  /**
   * Makes the container's image present according to its pull policy. Throws DockerletError with
   * INVALID_IMAGE_NAME, IMAGE_NEVER_PULL or IMAGE_PULL; in back-off throws IMAGE_PULL with
   * details.backoff = true (→ ImagePullBackOff).
   */
  async ensure(backoffKey: string, container: Container, emit: ImageEvents, signal?: AbortSignal): Promise<ImageInfo> {
    const image = container.image ?? '';
    if (!isValidImageRef(image)) {
      const msg = `Failed to apply default image tag "${image}": couldn't parse image name "${image}": invalid reference format`;
      emit('Warning', 'InspectFailed', msg);
      throw new DockerletError(ErrorCodes.INVALID_IMAGE_NAME, msg);
    }
    const policy = container.imagePullPolicy ?? defaultPullPolicy(image);
    const present = await this.#runtime.inspectImage(image);
    if (present && policy !== 'Always') {
      return present;
    }
    if (policy === 'Never') {
      const msg = `Container image "${image}" is not present with pull policy of Never`;
      emit('Warning', 'ErrImageNeverPull', msg);
      throw new DockerletError(ErrorCodes.IMAGE_NEVER_PULL, msg);
    }
    const failure = this.#lastFailure.get(backoffKey);
    if (failure && this.#backoff.inBackoff(backoffKey, failure.at)) {
      const msg = `Back-off pulling image "${image}": ${failure.message}`;
      emit('Normal', 'BackOff', msg);
      throw new DockerletError(ErrorCodes.IMAGE_PULL, msg, { details: { backoff: true } });
    }
    emit('Normal', 'Pulling', `Pulling image "${image}"`);
    const started = this.#clock.now();
    try {
      const info = await this.#pull(image, signal);
      this.#lastFailure.delete(backoffKey);
      this.#backoff.reset(backoffKey);
      const secs = ((this.#clock.now() - started) / 1000).toFixed(3);
      emit('Normal', 'Pulled', `Successfully pulled image "${image}" in ${secs}s. Image size: ${info.sizeBytes ?? 0} bytes.`);
      return info;
    } catch (err) {
      if (signal?.aborted) throw new DockerletError(ErrorCodes.IMAGE_PULL, `pull of "${image}" abandoned: the pod is going away`, { cause: err });
      const message = errorMessage(err);
      this.#backoff.next(backoffKey);
      this.#lastFailure.set(backoffKey, { at: this.#clock.now(), message });
      emit('Warning', 'Failed', `Failed to pull image "${image}": ${message}`);
      throw new DockerletError(ErrorCodes.IMAGE_PULL, `Failed to pull image "${image}": ${message}`, { cause: err });
    }
  }

  forget(backoffKeyPrefix: string): void {
    for (const k of [...this.#lastFailure.keys()]) if (k.startsWith(backoffKeyPrefix)) {
      this.#lastFailure.delete(k);
      this.#backoff.reset(k);
    }
  }

  /**
   * One pull per image at a time, however many pods ask. The pull is abandoned when it makes no progress
   * for the progress deadline (dockershim's image-pull-progress-deadline, 1 min) or when every pod
   * waiting for it went away (their signals); a caller whose signal aborts stops waiting at once.
   */
  async #pull(image: string, signal?: AbortSignal): Promise<ImageInfo> {
    let pull = this.#inflight.get(image);
    if (!pull) pull = this.#startPull(image);
    pull.waiters++;
    try {
      return await untilAborted(pull.promise, signal);
    } finally {
      pull.waiters--;
      if (pull.waiters === 0 && signal?.aborted) pull.abort.abort(new DockerletError(ErrorCodes.IMAGE_PULL, 'no pod waits for it any more'));
    }
  }

  #startPull(image: string): Pull {
    const abort = new AbortController();
    const secs = Math.round(this.#progressDeadlineMs / 1000);
    let timer = this.#clock.setTimeout(stall, this.#progressDeadlineMs);
    function stall() {
      abort.abort(new DockerletError(ErrorCodes.IMAGE_PULL, `no progress for ${secs}s`));
    }
    let lastLog = 0;
    const pull: Pull = { waiters: 0, abort, promise: Promise.resolve() as unknown as Promise<ImageInfo> };
    pull.promise = this.#runtime
      .pullImage(image, (prog) => {
        timer.cancel();
        timer = this.#clock.setTimeout(stall, this.#progressDeadlineMs);
        const now = this.#clock.now();
        if (now - lastLog < 1000 && !/complete|digest|status/i.test(prog.status)) return;
        lastLog = now;
        this.#log.info({ image, status: prog.status, current: prog.current, total: prog.total }, 'pull progress');
      }, abort.signal)
      .catch((err: unknown) => {
        const why: unknown = abort.signal.reason;
        throw abort.signal.aborted && why instanceof Error ? new DockerletError(ErrorCodes.IMAGE_PULL, `pull of ${image} cancelled: ${why.message}`, { cause: err }) : err;
      })
      .finally(() => {
        timer.cancel();
        if (this.#inflight.get(image) === pull) this.#inflight.delete(image);
      });
    pull.promise.catch(() => {}); // waiters that gave up must not leave the rejection unhandled
    this.#inflight.set(image, pull);
    return pull;
  }
}

/** A pull in flight, shared by the pods that wait for it. */
interface Pull {
  promise: Promise<ImageInfo>;
  abort: AbortController;
  waiters: number;
}

/** promise, or a rejection as soon as signal aborts. */
function untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new DockerletError(ErrorCodes.IMAGE_PULL, 'aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new DockerletError(ErrorCodes.IMAGE_PULL, 'aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}
