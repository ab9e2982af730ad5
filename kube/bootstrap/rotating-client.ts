// A KubeClient whose credential can change under it, as the kubelet's rotating client-certificate
// transport (pkg/kubelet/certificate/transport.go): reload() re-reads the node kubeconfig (whose
// client-certificate names the store's -current file), new requests use the new credential at once,
// and every open watch stream is closed so its owner reconnects with it — reported to the caller as
// an ordinary 'closed' end, so an informer resumes from its last resourceVersion (no relist, no gap).
// The old connection pool is closed once in-flight requests have had time to finish.
import type { Logger } from '../../lib/log.js';
import { linkAbort } from '../../lib/lifecycle.js';
import type { KubeObject, List } from '../api.js';
import { createKubeClient, type DockerletKubeClient, type KubeClientOptions } from '../client.js';
import type { KubeConnection } from '../connection.js';
import { loadKubeconfig } from '../kubeconfig.js';
import type { PatchType, RequestOptions, WatchEnd, WatchOnceOptions } from '../types.js';
import type { WatchTransport } from '../watch.js';

export class RotatingKubeClient implements DockerletKubeClient {
  #inner: DockerletKubeClient;
  readonly #watches = new Map<AbortController, { rotated: boolean }>();
  readonly #retired = new Set<ReturnType<typeof setTimeout>>();
  #rotations = 0;

  /** `load` re-reads the credential (default: the kubeconfig at `kubeconfigPath`). */
  constructor(
    readonly kubeconfigPath: string,
    private readonly opts: KubeClientOptions & { log?: Logger; drainMs?: number; load?: () => KubeConnection } = {},
  ) {
    this.#inner = createKubeClient(this.#load(), opts);
  }

  #load(): KubeConnection {
    return this.opts.load ? this.opts.load() : loadKubeconfig(this.kubeconfigPath);
  }

  get server(): string {
    return this.#inner.server;
  }
  get userHint(): string | undefined {
    return this.#inner.userHint;
  }
  get connection(): KubeConnection {
    return this.#inner.connection;
  }
  get watchTransport(): WatchTransport {
    return this.#inner.watchTransport;
  }
  /** How many times the credential was swapped. */
  get rotations(): number {
    return this.#rotations;
  }

  /** Loads the credential again and moves every user to it. Throws (and keeps the old one) when it is invalid. */
  reload(): void {
    const next = createKubeClient(this.#load(), this.opts);
    const old = this.#inner;
    this.#inner = next;
    this.#rotations++;
    for (const [ctl, st] of this.#watches) {
      st.rotated = true;
      ctl.abort();
    }
    const t = setTimeout(() => {
      this.#retired.delete(t);
      old.close();
    }, this.opts.drainMs ?? 35_000);
    t.unref();
    this.#retired.add(t);
    this.opts.log?.info({ rotations: this.#rotations, user: next.userHint, watches: this.#watches.size }, 'client credential reloaded; open watches reconnect with it');
  }

  request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, opts?: RequestOptions): Promise<T> {
    return this.#inner.request<T>(method, path, opts);
  }
  get<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.#inner.get<T>(path, opts);
  }
  list<T extends KubeObject>(path: string, opts?: RequestOptions): Promise<List<T>> {
    return this.#inner.list<T>(path, opts);
  }
  create<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.#inner.create<T>(path, body, opts);
  }
  update<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.#inner.update<T>(path, body, opts);
  }
  patch<T>(path: string, body: unknown, patchType?: PatchType, opts?: RequestOptions): Promise<T> {
    return this.#inner.patch<T>(path, body, patchType, opts);
  }
  delete<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.#inner.delete<T>(path, opts);
  }

  async watchOnce<T extends KubeObject>(path: string, opts: WatchOnceOptions<T>): Promise<WatchEnd> {
    const link = opts.signal ? linkAbort(opts.signal) : { controller: new AbortController(), unlink: () => {} };
    const st = { rotated: false };
    this.#watches.set(link.controller, st);
    try {
      const end = await this.#inner.watchOnce(path, { ...opts, signal: link.controller.signal });
      if (end.reason === 'aborted' && st.rotated && !opts.signal?.aborted) return { ...end, reason: 'closed' };
      return end;
    } finally {
      this.#watches.delete(link.controller);
      link.unlink();
    }
  }

  close(): void {
    for (const ctl of this.#watches.keys()) ctl.abort();
    this.#watches.clear();
    for (const t of this.#retired) clearTimeout(t);
    this.#retired.clear();
    this.#inner.close();
  }
}
