// createKubeClient: the KubeClient implementation (REST over a keep-alive agent, JSON bodies, the
// four PATCH flavours, and watchOnce over WebSocket with a chunked-HTTP fallback).
import type { Socket } from 'node:net';
import { linkAbort } from '../lib/lifecycle.js';
import { partLogger, type Logger } from '../lib/log.js';
import type { KubeObject, List } from './api.js';
import type { KubeConnection } from './connection.js';
import { createTransport, requestJson, type Transport } from './http.js';
import type { KubeClient, PatchType, RequestOptions, WatchEnd, WatchOnceOptions } from './types.js';
import { watchOnce, type WatchContext, type WatchTransport } from './watch.js';

export { isAlreadyExists, isConflict, isForbidden, isGone, isNotFound, isTransient, isUnauthorized, apiStatus } from './errors.js';
export type { WatchTransport } from './watch.js';

export interface KubeClientOptions {
  /** Default per-request timeout (ms); 30 s. Watches have none (see silenceTimeoutMs). */
  timeoutMs?: number;
  /** Default `dockerlet/<version>`. */
  userAgent?: string;
  /** 'auto' (default): WebSocket, falling back to chunked HTTP (remembered) when the upgrade is refused. */
  watchTransport?: 'auto' | WatchTransport;
  /** fieldManager sent with apply patches when the caller sets none (default 'dockerlet'). */
  fieldManager?: string;
  log?: Logger;
  /** Test hook: called with the socket of every established watch stream (tests cut it). */
  onWatchSocket?: (socket: Socket, transport: WatchTransport) => void;
}

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** The KubeClient plus the facts tests and diagnostics read. */
export interface DockerletKubeClient extends KubeClient {
  /** The transport 'auto' watches currently use. */
  readonly watchTransport: WatchTransport;
  readonly connection: KubeConnection;
}

class Client implements DockerletKubeClient {
  readonly server: string;
  readonly userHint?: string;
  readonly connection: KubeConnection;
  readonly #t: Transport;
  readonly #watch: WatchContext;
  readonly #fieldManager: string;
  readonly #state: { preferred: WatchTransport };
  /** Open watches, so close() can end them. */
  readonly #watches = new Set<AbortController>();

  constructor(conn: KubeConnection, opts: KubeClientOptions) {
    this.server = conn.server;
    if (conn.userHint) this.userHint = conn.userHint;
    this.connection = conn;
    this.#t = createTransport(conn, { ...(opts.userAgent ? { userAgent: opts.userAgent } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
    this.#fieldManager = opts.fieldManager ?? 'dockerlet';
    const mode = opts.watchTransport ?? 'auto';
    this.#state = { preferred: mode === 'http' ? 'http' : 'websocket' };
    this.#watch = {
      t: this.#t,
      log: partLogger(opts.log, 'kube-client', { server: conn.server }),
      mode,
      state: this.#state,
      ...(opts.onWatchSocket ? { onWatchSocket: opts.onWatchSocket } : {}),
    };
  }

  get watchTransport(): WatchTransport {
    return this.#state.preferred;
  }

  request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, opts: RequestOptions = {}): Promise<T> {
    let query = opts.query;
    let contentType: string | undefined;
    if (method === 'PATCH') {
      const pt = opts.patchType ?? 'strategic';
      contentType = PATCH_CONTENT_TYPES[pt];
      if (pt === 'apply' && query?.fieldManager === undefined) query = { ...query, fieldManager: this.#fieldManager };
    }
    return requestJson<T>(this.#t, method, path, query, {
      ...(opts.body !== undefined ? { json: opts.body } : {}),
      ...(contentType ? { contentType } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
  }

  get<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, opts);
  }

  list<T extends KubeObject>(path: string, opts?: RequestOptions): Promise<List<T>> {
    return this.request<List<T>>('GET', path, opts);
  }

  create<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body });
  }

  update<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, { ...opts, body });
  }

  patch<T>(path: string, body: unknown, patchType: PatchType = 'strategic', opts?: RequestOptions): Promise<T> {
    return this.request<T>('PATCH', path, { ...opts, body, patchType });
  }

  delete<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, opts);
  }

  async watchOnce<T extends KubeObject>(path: string, opts: WatchOnceOptions<T>): Promise<WatchEnd> {
    const link = opts.signal ? linkAbort(opts.signal) : { controller: new AbortController(), unlink: () => {} };
    const ctl = link.controller;
    this.#watches.add(ctl);
    try {
      return await watchOnce(this.#watch, path, { ...opts, signal: ctl.signal });
    } finally {
      this.#watches.delete(ctl);
      link.unlink();
    }
  }

  /** Ends open watches (reason 'aborted') and releases pooled sockets. */
  close(): void {
    for (const ctl of this.#watches) ctl.abort();
    this.#watches.clear();
    this.#t.agent.destroy();
    this.#t.streamAgent.destroy();
  }
}

/** A client for one apiserver. No I/O happens until the first call. */
export function createKubeClient(conn: KubeConnection, opts: KubeClientOptions = {}): DockerletKubeClient {
  return new Client(conn, opts);
}
