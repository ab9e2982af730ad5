// The contract of the shared Kubernetes API client (kube/) that agent and proxy code against.
import type { Lifecycle } from '../lib/lifecycle.js';
import type { KubeObject, List, WatchEvent } from './api.js';

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** For PATCH: which patch content type to send (default 'strategic'). */
  patchType?: PatchType;
  signal?: AbortSignal;
  /** Per-request timeout in ms (default 30 s; watches have none). */
  timeoutMs?: number;
}

/** REST access to one kube-apiserver. Paths are API paths, e.g. /api/v1/namespaces/default/pods. */
export interface KubeClient {
  /** The server URL (https://host:port). */
  readonly server: string;
  /** Authenticated user name as presented (e.g. system:node:NAME), when known from the credential. */
  readonly userHint?: string;
  request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, opts?: RequestOptions): Promise<T>;
  get<T>(path: string, opts?: RequestOptions): Promise<T>;
  list<T extends KubeObject>(path: string, opts?: RequestOptions): Promise<List<T>>;
  create<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T>;
  update<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T>;
  patch<T>(path: string, body: unknown, patchType?: PatchType, opts?: RequestOptions): Promise<T>;
  delete<T>(path: string, opts?: RequestOptions): Promise<T>;
  /**
   * Opens one watch stream (WebSocket first, chunked HTTP when the upgrade is refused).
   * Resolves when the stream ends (server timeout, close, error event delivered); rejects on
   * connect failure. Events are delivered in order through onEvent.
   */
  watchOnce<T extends KubeObject>(path: string, opts: WatchOnceOptions<T>): Promise<WatchEnd>;
  /** Releases sockets/agents. */
  close(): void;
}

export interface WatchOnceOptions<T> {
  query?: Record<string, string | number | boolean | undefined>;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
  signal?: AbortSignal;
  /** Stream silence after which the watch is abandoned (ms). */
  silenceTimeoutMs?: number;
  onEvent(ev: WatchEvent<T>): void;
}

export interface WatchEnd {
  /** Why the stream ended. 'gone' = the server answered 410 Expired (relist needed). */
  reason: 'closed' | 'timeout' | 'gone' | 'error' | 'silence' | 'aborted';
  transport: 'websocket' | 'http';
  lastResourceVersion?: string;
  error?: Error;
}

export type InformerEventHandler<T> = {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
};

/**
 * list → watch → local store; resumes on reconnect from the last resourceVersion,
 * relists on 410 Gone; handlers see add/update/delete (a relist diff yields the same).
 */
export interface Informer<T extends KubeObject> extends Lifecycle {
  on(handlers: InformerEventHandler<T>): () => void;
  /** Starts list+watch; resolves once the first list is in the store (hasSynced). */
  start(signal: AbortSignal): Promise<void>;
  /** Ends the watch and waits for the loop to finish. */
  stop(): Promise<void>;
  hasSynced(): boolean;
  /** Store lookups by key namespace/name (or name for cluster-scoped objects). */
  get(key: string): T | undefined;
  list(): T[];
  /** The resourceVersion the store reflects. */
  lastResourceVersion(): string | undefined;
}

export interface InformerOptions {
  /** Collection path, e.g. /api/v1/pods or /apis/discovery.k8s.io/v1/endpointslices. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Watch timeoutSeconds (randomised 5–10 min when unset, as client-go). */
  timeoutSeconds?: number;
  silenceTimeoutMs?: number;
}

export function objectKey(o: KubeObject): string {
  const ns = o.metadata.namespace;
  return ns ? `${ns}/${o.metadata.name}` : String(o.metadata.name);
}
