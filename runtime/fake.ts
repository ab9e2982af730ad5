// An in-memory ContainerRuntime for unit tests of the pod loop, as Virtual Kubelet's mock provider
// (the mock behind node/lifecycle_test.go) and undici's lib/mock/: containers with Docker's states
// (created → running → exited), exit codes, OOM kills, Docker-style events, images that pull or not,
// and injectable failures per operation. Time comes from the injected clock, so a FakeClock drives
// scripted exits and stop grace periods. Semantics follow runtime/docker/runtime.ts: stop of a stopped
// or missing container is a no-op, remove forces, a name in use is replaced, a failed start leaves
// the container 'created' with the start error.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../lib/clock.js';
import { DockerletError, ErrorCodes, type ErrorCode } from '../lib/errors.js';
import { dockerName } from './naming.js';
import type {
  ContainerCreateSpec, ContainerIdentity, ContainerRuntime, ImageInfo, LogOptions, ObservedContainer, PullProgress,
  Resources, RuntimeEvent, SandboxSpec,
} from './types.js';

/** What a container does once started; set per Kubernetes container name with behave(). */
export interface ContainerBehaviour {
  /** Exits by itself this long (clock ms) after it started; 0 exits at once; undefined runs until stopped. */
  exitAfterMs?: number;
  /** Exit code of the scripted exit (default 0). */
  exitCode?: number;
  /** The scripted exit is an OOM kill (exit code 137 unless exitCode says otherwise). */
  oomKilled?: boolean;
  /** Docker's start error: start() throws and the container stays 'created' (RunContainerError). */
  startError?: string;
  /** 'exit' (default): SIGTERM ends it at once with 143. 'ignore': stop waits the grace period, then 137. */
  onTerm?: 'exit' | 'ignore';
  /** What logs() returns. */
  logs?: string;
  /** Files readFile() can read, by path. */
  files?: Record<string, string>;
  /** Answers exec() (exec probes); default exit 0 with no output. */
  exec?: (cmd: string[]) => { exitCode: number; output: string };
}

export type FakeOp =
  | 'version' | 'list' | 'inspect' | 'inspectImage' | 'pull' | 'listImages' | 'runSandbox' | 'create' | 'start' | 'stop'
  | 'remove' | 'logs' | 'readFile' | 'exec' | 'update';

/** One call the runtime received, in order (tests assert on these). */
export interface FakeCall {
  op: FakeOp;
  /** Container id (start/stop/remove/logs/readFile/exec) or the created container's id. */
  id?: string;
  /** Docker name for runSandbox/create; image ref for pulls and image inspects. */
  name?: string;
  graceSeconds?: number;
}

interface FakeContainer {
  observed: ObservedContainer;
  behaviour: ContainerBehaviour;
  spec: SandboxSpec | ContainerCreateSpec;
  exitTimer?: { cancel(): void };
}

export interface FakeRuntimeOptions {
  clock?: Clock;
  /** Images present from the start (refs). */
  images?: string[];
  /** false: watchEvents delivers nothing (the controller must rely on relists). Default true. */
  events?: boolean;
}

const DEFAULT_CODES: Partial<Record<FakeOp, ErrorCode>> = { pull: ErrorCodes.IMAGE_PULL, start: ErrorCodes.RUN_CONTAINER };

export class FakeRuntime implements ContainerRuntime {
  readonly calls: FakeCall[] = [];
  /** Container names that were in use at create (the Docker runtime replaces them; a worker should not cause any). */
  readonly nameConflicts: string[] = [];
  /** No pod cgroups here; a test sets this to see what the controller's GC keeps. */
  removeOrphanPodCgroups?: (keep: ReadonlySet<string>) => Promise<number>;
  readonly #clock: Clock;
  readonly #emitEvents: boolean;
  readonly #containers = new Map<string, FakeContainer>();
  readonly #images = new Map<string, ImageInfo>();
  readonly #pullFailures = new Map<string, string>();
  readonly #behaviours = new Map<string, ContainerBehaviour>();
  readonly #failures: { op: FakeOp; err: () => Error; times: number }[] = [];
  readonly #listeners = new Set<(e: RuntimeEvent) => void>();
  #seq = 0;

  constructor(opts: FakeRuntimeOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#emitEvents = opts.events ?? true;
    for (const ref of opts.images ?? []) this.addImage(ref);
  }

  // ---- scripting ---------------------------------------------------------------------------

  /** Sets what containers with this Kubernetes name (any pod; 'POD' for sandboxes) do when started next. */
  behave(containerName: string, b: ContainerBehaviour): void {
    this.#behaviours.set(containerName, { ...b });
  }

  addImage(ref: string, info: Partial<ImageInfo> = {}): ImageInfo {
    const id = `sha256:${sha(ref)}`;
    const image: ImageInfo = { id, repoTags: [ref], repoDigests: [], sizeBytes: 1024, ...info };
    this.#images.set(ref, image);
    return image;
  }

  removeImage(ref: string): void {
    this.#images.delete(ref);
  }

  /** Pulls of ref fail with this message until clearPullFailure(ref). */
  failPull(ref: string, message: string): void {
    this.#pullFailures.set(ref, message);
  }

  clearPullFailure(ref: string): void {
    this.#pullFailures.delete(ref);
  }

  /** The next `times` calls of op throw err (default: a DockerletError with the code Docker's errors map to). */
  fail(op: FakeOp, err?: Error, times = 1): void {
    const make = () => err ?? new DockerletError(DEFAULT_CODES[op] ?? ErrorCodes.RUNTIME, `injected ${op} failure`, { details: { op } });
    this.#failures.push({ op, err: make, times });
  }

  /** Ends a running container now (as if its process exited or was killed from outside). */
  exit(id: string, exitCode: number, opts: { oomKilled?: boolean } = {}): void {
    const c = this.#containers.get(id);
    if (!c || c.observed.state !== 'running') throw new DockerletError(ErrorCodes.CONTAINER_NOT_RUNNING, `fake container ${id} is not running`);
    this.#finish(c, exitCode, opts.oomKilled === true);
  }

  // ---- inspection --------------------------------------------------------------------------

  /** A copy of one container's current view. */
  container(id: string): ObservedContainer | undefined {
    const c = this.#containers.get(id);
    return c && structuredClone(c.observed);
  }

  /** Containers of a pod (optionally one Kubernetes container name), newest first. */
  containersOf(podUid: string, containerName?: string): ObservedContainer[] {
    return [...this.#containers.values()]
      .map((c) => c.observed)
      .filter((o) => o.podUid === podUid && (containerName === undefined || o.containerName === containerName))
      .sort((a, b) => b.attempt - a.attempt || b.restartCount - a.restartCount || b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id))
      .map((o) => structuredClone(o));
  }

  /** The spec a container was created from. */
  specOf(id: string): SandboxSpec | ContainerCreateSpec | undefined {
    return this.#containers.get(id)?.spec;
  }

  count(op: FakeOp): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  /** Delivers an event for a container again, as Docker's stream does late under load (nothing changes). */
  echo(id: string, action: string): void {
    this.#emit(this.#get(id, 'list'), action);
  }

  /** Puts a container into the runtime as if an earlier agent had created it (adoption tests). */
  seed(identity: ContainerIdentity, over: Partial<ObservedContainer> = {}): ObservedContainer {
    const id = this.#newId();
    const observed: ObservedContainer = {
      ...identity, id, dockerName: dockerName(identity), state: 'running', image: 'seeded', imageRef: 'docker://sha256:seeded',
      createdAt: this.#now(), startedAt: this.#now(), annotations: {}, ...over,
    };
    this.#containers.set(id, { observed, behaviour: {}, spec: { identity, image: observed.image, hostname: '', hostNetwork: false, portBindings: [] } });
    return structuredClone(observed);
  }

  // ---- ContainerRuntime --------------------------------------------------------------------

  async version(): Promise<{ name: 'docker'; version: string; apiVersion: string }> {
    this.#enter({ op: 'version' });
    return { name: 'docker', version: '20.10.0-fake', apiVersion: '1.41' };
  }

  async listManaged(): Promise<ObservedContainer[]> {
    this.#enter({ op: 'list' });
    return [...this.#containers.values()].map((c) => structuredClone(c.observed));
  }

  async listPod(podUid: string): Promise<ObservedContainer[]> {
    this.#enter({ op: 'list' });
    return [...this.#containers.values()].filter((c) => c.observed.podUid === podUid).map((c) => structuredClone(c.observed));
  }

  async inspectContainers(ids: readonly string[]): Promise<ObservedContainer[]> {
    for (const id of ids) this.#enter({ op: 'inspect', id });
    return ids.flatMap((id) => { const c = this.#containers.get(id); return c ? [structuredClone(c.observed)] : []; });
  }

  async inspectImage(ref: string): Promise<ImageInfo | undefined> {
    this.#enter({ op: 'inspectImage', name: ref });
    const img = this.#images.get(ref);
    return img && structuredClone(img);
  }

  async pullImage(ref: string, onProgress?: (p: PullProgress) => void): Promise<ImageInfo> {
    this.#enter({ op: 'pull', name: ref });
    const failure = this.#pullFailures.get(ref);
    if (failure !== undefined) throw new DockerletError(ErrorCodes.IMAGE_PULL, failure, { details: { op: 'pull', image: ref } });
    onProgress?.({ status: `Status: Downloaded newer image for ${ref}` });
    return structuredClone(this.addImage(ref));
  }

  async listImages(): Promise<ImageInfo[]> {
    this.#enter({ op: 'listImages' });
    return [...this.#images.values()].map((i) => structuredClone(i));
  }

  async runSandbox(spec: SandboxSpec): Promise<string> {
    const name = dockerName(spec.identity);
    this.#enter({ op: 'runSandbox', name });
    const c = this.#create(spec, name, spec.image, {});
    if (!spec.hostNetwork) c.observed.ip = `10.88.${(this.#seq >> 8) & 255}.${this.#seq & 255}`;
    try {
      this.#start(c);
    } catch (err) {
      this.#remove(c);
      throw err;
    }
    return c.observed.id;
  }

  async createContainer(spec: ContainerCreateSpec): Promise<string> {
    const name = dockerName(spec.identity);
    this.#enter({ op: 'create', name });
    const c = this.#create(spec, name, spec.image, { ...spec.annotations });
    c.observed.sandboxId = spec.sandboxId;
    this.calls[this.calls.length - 1]!.id = c.observed.id;
    return c.observed.id;
  }

  async startContainer(id: string): Promise<void> {
    this.#enter({ op: 'start', id });
    const c = this.#get(id, 'start');
    if (c.observed.state === 'running') return; // Docker's 304
    this.#start(c);
  }

  async stopContainer(id: string, graceSeconds: number): Promise<void> {
    this.#enter({ op: 'stop', id, graceSeconds });
    const c = this.#containers.get(id);
    if (!c || c.observed.state !== 'running') return; // already stopped / gone
    if ((c.behaviour.onTerm ?? 'exit') === 'exit') return this.#finish(c, 143, false);
    await this.#clock.sleep(Math.max(0, graceSeconds) * 1000);
    if (c.observed.state === 'running') this.#finish(c, 137, false);
  }

  async updateContainerResources(id: string, resources: Resources): Promise<void> {
    this.#enter({ op: 'update', id });
    const c = this.#get(id, 'update');
    if ('resources' in c.spec) c.spec = { ...c.spec, resources: { ...c.spec.resources, ...resources } };
  }

  /** The resources a container was created with, after any updateContainerResources. */
  resourcesOf(id: string): Resources | undefined {
    const spec = this.#containers.get(id)?.spec;
    return spec && 'resources' in spec ? spec.resources : undefined;
  }

  async removeContainer(id: string): Promise<void> {
    this.#enter({ op: 'remove', id });
    const c = this.#containers.get(id);
    if (c) this.#remove(c);
  }

  async logs(id: string, opts: LogOptions): Promise<NodeJS.ReadableStream> {
    this.#enter({ op: 'logs', id });
    let text = this.#get(id, 'logs').behaviour.logs ?? '';
    if (opts.tailLines !== undefined) {
      const lines = text.split(/(?<=\n)/);
      text = lines.slice(Math.max(0, lines.length - opts.tailLines)).join('');
    }
    if (opts.limitBytes !== undefined) text = Buffer.from(text).subarray(0, opts.limitBytes).toString('utf8');
    return Readable.from([Buffer.from(text)]);
  }

  async readFile(id: string, path: string, maxBytes: number): Promise<string | undefined> {
    this.#enter({ op: 'readFile', id });
    const text = this.#get(id, 'readFile').behaviour.files?.[path];
    return text === undefined ? undefined : Buffer.from(text).subarray(0, maxBytes).toString('utf8');
  }

  async exec(id: string, cmd: string[]): Promise<{ exitCode: number; output: string }> {
    this.#enter({ op: 'exec', id });
    const c = this.#get(id, 'exec');
    if (c.observed.state !== 'running') throw new DockerletError(ErrorCodes.CONTAINER_NOT_RUNNING, `container ${id} is not running`, { details: { id } });
    return c.behaviour.exec?.(cmd) ?? { exitCode: 0, output: '' };
  }

  watchEvents(signal: AbortSignal, onEvent: (e: RuntimeEvent) => void, onConnected?: (connected: boolean) => void): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      if (this.#emitEvents) {
        this.#listeners.add(onEvent);
        onConnected?.(true);
      }
      signal.addEventListener('abort', () => { this.#listeners.delete(onEvent); resolve(); }, { once: true });
    });
  }

  // ---- internals ---------------------------------------------------------------------------

  #enter(call: FakeCall): void {
    this.calls.push(call);
    const f = this.#failures.find((x) => x.op === call.op && x.times > 0);
    if (!f) return;
    f.times--;
    throw f.err();
  }

  #get(id: string, op: FakeOp): FakeContainer {
    const c = this.#containers.get(id);
    if (!c) throw new DockerletError(ErrorCodes.NOT_FOUND, `docker ${op} failed: No such container: ${id}`, { details: { op, id, statusCode: 404 } });
    return c;
  }

  #newId(): string {
    return sha(`container-${++this.#seq}`);
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  #create(spec: SandboxSpec | ContainerCreateSpec, name: string, image: string, annotations: Record<string, string>): FakeContainer {
    const old = [...this.#containers.values()].find((x) => x.observed.dockerName === name);
    if (old) {
      this.nameConflicts.push(name);
      this.#remove(old);
    }
    const info = this.#images.get(image);
    const observed: ObservedContainer = {
      ...spec.identity, id: this.#newId(), dockerName: name, state: 'created', image,
      imageRef: info ? (info.repoDigests[0] ? `docker-pullable://${info.repoDigests[0]}` : `docker://${info.id}`) : `docker://${image}`,
      createdAt: this.#now(), annotations,
    };
    const c: FakeContainer = { observed, spec, behaviour: { ...this.#behaviours.get(spec.identity.containerName) } };
    this.#containers.set(observed.id, c);
    this.#emit(c, 'create');
    return c;
  }

  #start(c: FakeContainer): void {
    const o = c.observed;
    if (c.behaviour.startError !== undefined) {
      o.error = c.behaviour.startError;
      throw new DockerletError(ErrorCodes.RUN_CONTAINER, `docker start failed: ${c.behaviour.startError}`, { details: { op: 'start', id: o.id } });
    }
    o.state = 'running';
    o.startedAt = this.#now();
    o.pid = 1000 + this.#seq;
    delete o.finishedAt;
    delete o.exitCode;
    delete o.error;
    this.#emit(c, 'start');
    const after = c.behaviour.exitAfterMs;
    if (after === undefined) return;
    const code = c.behaviour.exitCode ?? (c.behaviour.oomKilled ? 137 : 0);
    if (after <= 0) return this.#finish(c, code, c.behaviour.oomKilled === true);
    c.exitTimer = this.#clock.setTimeout(() => {
      if (c.observed.state === 'running') this.#finish(c, code, c.behaviour.oomKilled === true);
    }, after);
  }

  #finish(c: FakeContainer, exitCode: number, oomKilled: boolean): void {
    c.exitTimer?.cancel();
    c.exitTimer = undefined;
    const o = c.observed;
    o.state = 'exited';
    o.exitCode = exitCode;
    o.finishedAt = this.#now();
    delete o.pid;
    if (oomKilled) {
      o.oomKilled = true;
      this.#emit(c, 'oom');
    }
    this.#emit(c, 'die');
  }

  #remove(c: FakeContainer): void {
    if (c.observed.state === 'running') this.#finish(c, 137, false);
    this.#containers.delete(c.observed.id);
    this.#emit(c, 'destroy');
  }

  #emit(c: FakeContainer, action: string): void {
    const e: RuntimeEvent = { id: c.observed.id, podUid: c.observed.podUid, action };
    for (const l of [...this.#listeners]) l(e);
  }
}

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
