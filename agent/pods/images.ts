// Image handling for the pod worker, as upstream pkg/kubelet/images/image_manager.go EnsureImageExists
// and kuberuntime_image.go PullImage: reference validation (../images/reference.ts), pull policy, the
// "already present on machine" Event, pulls with progress in the log and Events, registry credentials
// (the pod's imagePullSecrets first, then the node's docker config; each matching credential tried in
// turn, ../images/keyring.ts), and ErrImagePull → ImagePullBackOff back-off per pod container.
import type { Container, Pod, Secret } from '../../kube/api.js';
import { Backoff } from '../../lib/backoff.js';
import type { Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { ContainerRuntime, ImageInfo, PullProgress } from '../../runtime/types.js';
import { DockerKeyring, parseDockerConfig, secretDockerConfig, type RegistryAuth } from '../images/keyring.js';
import { isValidImageRef, parseImageReference, repositoryOf } from '../images/reference.js';
import { podStartTracker, type PodStartTracker } from '../status/start-sli.js';

export { isValidImageRef };

/** runtime.pullImage with the registry credential (runtime/types.ts gains the 4th parameter). */
type PullWithAuth = (ref: string, onProgress?: (p: PullProgress) => void, signal?: AbortSignal, auth?: RegistryAuth) => Promise<ImageInfo>;

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

export interface ImageManagerOptions {
  progressDeadlineMs?: number;
  /** Reads a pull secret (namespace, name); undefined when it does not exist. */
  secret?: (namespace: string, name: string) => Promise<Secret | undefined>;
  /** The node's credentials (readNodeCredentials over nodeCredentialPaths(rootDir)). */
  nodeCredentials?: () => Promise<DockerKeyring>;
  /** Pull times per pod for the pod start SLI (excludes pulling); the agent's tracker by default. */
  startTracker?: Pick<PodStartTracker, 'pullStarted' | 'pullFinished'>;
}

export class ImageManager {
  readonly #runtime: ContainerRuntime;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #lastFailure = new Map<string, { at: number; message: string }>();
  readonly #clock: Clock;
  readonly #inflight = new Map<string, Pull>();
  readonly #progressDeadlineMs: number;
  readonly #opts: ImageManagerOptions;

  constructor(runtime: ContainerRuntime, clock: Clock, log: Logger, opts: ImageManagerOptions = {}) {
    this.#opts = opts;
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
  async ensure(backoffKey: string, container: Container, emit: ImageEvents, signal?: AbortSignal, pod?: Pod): Promise<ImageInfo> {
    const image = container.image ?? '';
    let repository: string;
    try {
      repository = repositoryOf(parseImageReference(image));
    } catch (err) {
      const msg = `Failed to apply default image tag "${image}": couldn't parse image name "${image}": ${errorMessage(err)}`;
      emit('Warning', 'InspectFailed', msg);
      throw new DockerletError(ErrorCodes.INVALID_IMAGE_NAME, msg);
    }
    const policy = container.imagePullPolicy ?? defaultPullPolicy(image);
    const present = await this.#runtime.inspectImage(image);
    if (present && policy !== 'Always') {
      emit('Normal', 'Pulled', `Container image "${image}" already present on machine`);
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
    const tracker = this.#opts.startTracker ?? podStartTracker;
    const podUid = pod?.metadata.uid ?? backoffKey.split('/')[0] ?? '';
    tracker.pullStarted(podUid, started);
    try {
      const info = await this.#pullWithCredentials(image, await this.#credentials(repository, pod, emit), signal).finally(() => tracker.pullFinished(podUid, this.#clock.now()));
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
   * MakeDockerKeyring + Lookup: the pod's imagePullSecrets (missing ones skipped, as upstream), then the
   * node's credentials, matching the repository.
   */
  async #credentials(repository: string, pod: Pod | undefined, emit: ImageEvents): Promise<RegistryAuth[]> {
    const found: RegistryAuth[] = [];
    const missing: string[] = [];
    const names = (pod?.spec as { imagePullSecrets?: { name?: string }[] } | undefined)?.imagePullSecrets ?? [];
    if (names.length && this.#opts.secret) {
      const podKeyring = new DockerKeyring();
      for (const { name } of names) {
        if (!name) continue;
        try {
          const secret = await this.#opts.secret(pod?.metadata.namespace ?? 'default', name);
          if (!secret) missing.push(`${pod?.metadata.namespace ?? 'default'}/${name}`);
          const config = secret && secretDockerConfig(secret);
          if (config) podKeyring.add(parseDockerConfig(config));
        } catch (err) {
          this.#log.warn({ secret: name, err }, 'image pull secret not usable; pulling without it');
        }
      }
      if (missing.length) {
        emit('Warning', 'FailedToRetrieveImagePullSecret', `Unable to retrieve some image pull secrets (${missing.join(', ')}); attempting to pull the image may not succeed.`);
      }
      found.push(...podKeyring.lookup(repository));
    }
    if (this.#opts.nodeCredentials) {
      try {
        found.push(...(await this.#opts.nodeCredentials()).lookup(repository));
      } catch (err) {
        this.#log.warn({ err }, 'node registry credentials not readable');
      }
    }
    return found;
  }

  /** kuberuntime PullImage: without credentials one pull; otherwise each credential in turn until one works. */
  async #pullWithCredentials(image: string, creds: RegistryAuth[], signal?: AbortSignal): Promise<ImageInfo> {
    if (creds.length === 0) return this.#pull(image, undefined, signal);
    const errors: string[] = [];
    for (const auth of creds) {
      try {
        return await this.#pull(image, auth, signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        errors.push(errorMessage(err));
      }
    }
    throw new DockerletError(ErrorCodes.IMAGE_PULL, errors.length === 1 ? errors[0]! : `[${errors.join(', ')}]`);
  }

  /**
   * One pull per image (and credential) at a time, however many pods ask. The pull is abandoned when it makes no progress
   * for the progress deadline (dockershim's image-pull-progress-deadline, 1 min) or when every pod
   * waiting for it went away (their signals); a caller whose signal aborts stops waiting at once.
   */
  async #pull(image: string, auth: RegistryAuth | undefined, signal?: AbortSignal): Promise<ImageInfo> {
    const key = auth ? `${image}\u0000${auth.serveraddress}\u0000${auth.username}` : image;
    let pull = this.#inflight.get(key);
    if (!pull) pull = this.#startPull(image, key, auth);
    pull.waiters++;
    try {
      return await untilAborted(pull.promise, signal);
    } finally {
      pull.waiters--;
      if (pull.waiters === 0 && signal?.aborted) pull.abort.abort(new DockerletError(ErrorCodes.IMAGE_PULL, 'no pod waits for it any more'));
    }
  }

  #startPull(image: string, key: string, auth: RegistryAuth | undefined): Pull {
    const abort = new AbortController();
    const secs = Math.round(this.#progressDeadlineMs / 1000);
    let timer = this.#clock.setTimeout(stall, this.#progressDeadlineMs);
    function stall() {
      abort.abort(new DockerletError(ErrorCodes.IMAGE_PULL, `no progress for ${secs}s`));
    }
    let lastLog = 0;
    const pull: Pull = { waiters: 0, abort, promise: Promise.resolve() as unknown as Promise<ImageInfo> };
    const pullImage = this.#runtime.pullImage.bind(this.#runtime) as PullWithAuth;
    pull.promise = pullImage(image, (prog) => {
        timer.cancel();
        timer = this.#clock.setTimeout(stall, this.#progressDeadlineMs);
        const now = this.#clock.now();
        if (now - lastLog < 1000 && !/complete|digest|status/i.test(prog.status)) return;
        lastLog = now;
        this.#log.info({ image, status: prog.status, current: prog.current, total: prog.total }, 'pull progress');
      }, abort.signal, auth)
      .catch((err: unknown) => {
        const why: unknown = abort.signal.reason;
        throw abort.signal.aborted && why instanceof Error ? new DockerletError(ErrorCodes.IMAGE_PULL, `pull of ${image} cancelled: ${why.message}`, { cause: err }) : err;
      })
      .finally(() => {
        timer.cancel();
        if (this.#inflight.get(key) === pull) this.#inflight.delete(key);
      });
    pull.promise.catch(() => {}); // waiters that gave up must not leave the rejection unhandled
    this.#inflight.set(key, pull);
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
