// The static pod source (kubelet --pod-manifest-path / staticPodPath): every regular file of one
// directory (not recursing; dotfiles ignored) holds one Pod manifest in YAML or JSON. The directory is
// rescanned every fileCheckFrequency (20 s) and on fs.watch events (debounced). A changed manifest is
// a new pod (new UID): the old one is deleted, the new one added, as upstream.
//
// Deliberate difference from upstream: a file that stops parsing or validating keeps its last good pod
// running (upstream drops it at the next full rescan); the problem is logged once per file content.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Pod } from '../../kube/api.js';
import { systemClock, type Clock, type Timer } from '../../lib/clock.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { partLogger, type Logger } from '../../lib/log.js';
import type { PodSource } from '../pods/controller.js';
import { applyStaticDefaults } from './defaults.js';
import { validatePodManifest } from './schema.js';

export interface StaticPodSourceDeps {
  dir: string;
  nodeName: string;
  clock?: Clock;
  log?: Logger;
  /** Full rescan period (kubelet fileCheckFrequency); default 20 000 ms. */
  rescanMs?: number;
  /** Quiet time after an fs.watch event before rescanning; default 100 ms. */
  debounceMs?: number;
}

type Handlers = Parameters<PodSource['on']>[0];

interface FileState {
  content: string;
  /** The pod from the last content that parsed and validated. */
  pod?: Pod;
  /** Why the current content is not in effect (logged once). */
  error?: string;
}

const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json', '']);

/** Parses one manifest file's text into a defaulted static pod; throws MANIFEST_INVALID (one line). */
export function parseStaticPod(text: string, file: string, nodeName: string, seen: string): Pod {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  for (const d of list) {
    const e = d.errors[0];
    if (e) {
      const pos = e.linePos?.[0];
      const msg = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      throw new DockerletError(ErrorCodes.MANIFEST_INVALID, `static pod ${file}: YAML syntax error${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${msg}`, {
        details: { file, line: pos?.line, column: pos?.col },
      });
    }
  }
  const objects = list.map((d) => d.toJS({ maxAliasCount: 100 }) as unknown).filter((o) => o !== null && o !== undefined);
  if (objects.length !== 1) {
    const why = objects.length ? `expected one Pod, found ${objects.length} documents` : 'the file holds no object';
    throw new DockerletError(ErrorCodes.MANIFEST_INVALID, `static pod ${file}: ${why}`, { details: { file } });
  }
  const pod = validatePodManifest(objects[0], file);
  return applyStaticDefaults(pod, { nodeName, file, seen });
}

function podKey(p: Pod): string {
  return `${p.metadata.namespace}/${p.metadata.name}`;
}

export class StaticPodSource implements PodSource {
  readonly name = 'file' as const;
  readonly #dir: string;
  readonly #nodeName: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #rescanMs: number;
  readonly #debounceMs: number;
  readonly #handlers = new Set<Handlers>();
  readonly #files = new Map<string, FileState>();
  /** The pods in effect, by UID. */
  #active = new Map<string, Pod>();
  readonly #warned = new Set<string>();
  #scan: Promise<void> | undefined;
  #rescanPending = false;
  #watcher: FSWatcher | undefined;
  #debounce: Timer | undefined;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(deps: StaticPodSourceDeps) {
    this.#dir = deps.dir;
    this.#nodeName = deps.nodeName;
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'static-pods', { dir: deps.dir });
    this.#rescanMs = deps.rescanMs ?? 20_000;
    this.#debounceMs = deps.debounceMs ?? 100;
  }

  on(handlers: Handlers): () => void {
    this.#handlers.add(handlers);
    return () => this.#handlers.delete(handlers);
  }

  /** Scans once (resolving then), then keeps watching and rescanning until signal aborts or stop(). */
  async start(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    signal.addEventListener('abort', () => void this.stop(), { once: true });
    await this.rescan();
    this.#ensureWatch();
    this.#loop = this.#run(this.#abort.signal);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#debounce?.cancel();
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#loop;
    await this.#scan;
  }

  list(): Pod[] {
    return [...this.#active.values()];
  }

  /** Scans the directory now (concurrent calls coalesce into at most one more scan). */
  rescan(): Promise<void> {
    if (this.#scan) {
      this.#rescanPending = true;
      return this.#scan;
    }
    this.#scan = (async () => {
      try {
        do {
          this.#rescanPending = false;
          await this.#scanOnce().catch((err) => this.#log.warn({ err }, 'static pod scan failed'));
        } while (this.#rescanPending && !this.#abort.signal.aborted);
      } finally {
        this.#scan = undefined;
      }
    })();
    return this.#scan;
  }

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#clock.sleep(this.#rescanMs, signal);
      if (signal.aborted) break;
      await this.rescan();
      this.#ensureWatch();
    }
  }

  #ensureWatch(): void {
    if (this.#watcher || this.#abort.signal.aborted) return;
    try {
      const w = watch(this.#dir, { persistent: false }, () => this.#poke());
      w.on('error', (err) => {
        this.#log.debug({ err }, 'manifest directory watch ended; periodic rescans continue');
        w.close();
        if (this.#watcher === w) this.#watcher = undefined;
        this.#poke();
      });
      this.#watcher = w;
    } catch (err) {
      this.#log.debug({ err }, 'cannot watch the manifest directory; periodic rescans continue');
    }
  }

  #poke(): void {
    if (this.#abort.signal.aborted) return;
    this.#debounce?.cancel();
    this.#debounce = this.#clock.setTimeout(() => void this.rescan(), this.#debounceMs);
  }

  /** Names of candidate manifest files (sorted), or undefined when the directory cannot be read. */
  async #candidates(): Promise<string[] | undefined> {
    let entries;
    try {
      entries = await readdir(this.#dir, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.#warnOnce(`dir:${code}`, { err }, code === 'ENOENT' ? 'manifest directory does not exist; no static pods' : 'cannot read the manifest directory');
      return code === 'ENOENT' ? [] : undefined;
    }
    this.#warned.delete('dir:ENOENT');
    const names: string[] = [];
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      if (!MANIFEST_EXTENSIONS.has(extname(e.name).toLowerCase())) {
        this.#warnOnce(`ext:${e.name}`, { file: e.name }, 'ignoring a file that is not .yaml, .yml, .json or extension-less', 'debug');
        continue;
      }
      let isFile = e.isFile();
      if (e.isSymbolicLink()) isFile = await stat(join(this.#dir, e.name)).then((s) => s.isFile(), () => false);
      if (!isFile) {
        if (e.isDirectory()) this.#warnOnce(`dir-entry:${e.name}`, { file: e.name }, 'not recursing into a directory in the manifest path', 'debug');
        continue;
      }
      names.push(e.name);
    }
    return names.sort();
  }

  async #scanOnce(): Promise<void> {
    const names = await this.#candidates();
    if (!names) return; // unreadable: change nothing
    const seen = new Set<string>();
    for (const name of names) {
      const file = join(this.#dir, name);
      let content: string;
      try {
        content = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.#log.warn({ file, err }, 'cannot read manifest file');
          if (this.#files.has(file)) seen.add(file); // keep what runs
        }
        continue;
      }
      seen.add(file);
      const prev = this.#files.get(file);
      if (prev && prev.content === content) continue;
      try {
        const seenAt = new Date(this.#clock.now()).toISOString();
        const pod = parseStaticPod(content, file, this.#nodeName, seenAt);
        const keep = prev?.pod && prev.pod.metadata.uid === pod.metadata.uid ? prev.pod : pod;
        this.#files.set(file, { content, pod: keep });
        if (prev?.error) this.#log.info({ file }, 'manifest file is valid again');
      } catch (err) {
        const error = errorMessage(err);
        this.#files.set(file, { content, pod: prev?.pod, error });
        this.#log.warn({ file, keptRunning: prev?.pod ? podKey(prev.pod) : undefined }, prev?.pod ? `${error}; the last good version keeps running` : error);
      }
    }
    for (const file of [...this.#files.keys()]) if (!seen.has(file)) this.#files.delete(file);
    this.#publish();
  }

  /** Computes the pods in effect (first file by name wins a name clash) and emits the difference. */
  #publish(): void {
    const next = new Map<string, Pod>();
    const owners = new Map<string, string>();
    for (const [file, st] of [...this.#files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!st.pod) continue;
      const key = podKey(st.pod);
      const owner = owners.get(key);
      if (owner !== undefined || next.has(st.pod.metadata.uid!)) {
        this.#warnOnce(`dup:${file}:${st.pod.metadata.uid}`, { file, pod: key, owner }, 'another manifest already defines this pod; ignoring this file');
        continue;
      }
      owners.set(key, file);
      next.set(st.pod.metadata.uid!, st.pod);
    }
    const prev = this.#active;
    this.#active = next;
    for (const [uid, pod] of prev) {
      if (!next.has(uid)) {
        this.#log.info({ pod: podKey(pod), uid }, 'static pod removed');
        this.#emit((h) => h.delete?.(pod));
      }
    }
    for (const [uid, pod] of next) {
      const old = prev.get(uid);
      if (!old) {
        this.#log.info({ pod: podKey(pod), uid }, 'static pod added');
        this.#emit((h) => h.add?.(pod));
      } else if (old !== pod) {
        this.#emit((h) => h.update?.(old, pod));
      }
    }
  }

  #emit(fn: (h: Handlers) => void): void {
    for (const h of this.#handlers) {
      try {
        fn(h);
      } catch (err) {
        this.#log.warn({ err }, 'static pod handler failed');
      }
    }
  }

  #warnOnce(key: string, fields: Record<string, unknown>, msg: string, level: 'warn' | 'debug' = 'warn'): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#log[level](fields, msg);
  }
}
