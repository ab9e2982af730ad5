// One watch stream: WebSocket first (one JSON event per text message, Origin header sent), chunked
// HTTP (newline-delimited JSON) when the upgrade is refused. Tracks the last resourceVersion, maps a
// 410 ERROR event to 'gone', abandons a silent stream, and never swallows a malformed event.
// Every stream that ends for any reason but the caller's abort (closed, timeout, gone, error, silence,
// or a failure to open) means the caller opens it again: counted in dockerlet_watch_reconnects_total
// {resource} (the reflector's relist/rewatch, client-go's watch restarts).
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { DockerletError, ErrorCodes, errorMessage } from '../lib/errors.js';
import { linkAbort } from '../lib/lifecycle.js';
import type { Logger } from '../lib/log.js';
import { watchReconnects } from '../metrics/agent-metrics.js';
import type { KubeObject, Status, WatchEvent } from './api.js';
import { tlsOptions } from './connection.js';
import { apiError, apiErrorFromStatus, transportError } from './errors.js';
import { LineSplitter } from './lines.js';
import { baseHeaders, buildUrl, openRequest, readBody, type Transport } from './http.js';
import type { WatchEnd, WatchOnceOptions } from './types.js';

export type WatchTransport = 'websocket' | 'http';

export interface WatchContext {
  readonly t: Transport;
  readonly log: Logger;
  /** 'auto' tries WebSocket and remembers a fallback to HTTP; otherwise that transport only. */
  readonly mode: 'auto' | WatchTransport;
  /** Mutable per-client memory of the transport that works. */
  readonly state: { preferred: WatchTransport };
  /** Test hook: sees the socket of every established watch stream. */
  readonly onWatchSocket?: (socket: Socket, transport: WatchTransport) => void;
}

type Reason = WatchEnd['reason'];

/** Shared per-stream bookkeeping: parses events, tracks RV, runs the silence watchdog. */
class Stream<T extends KubeObject> {
  lastRv: string | undefined;
  #ended: WatchEnd | undefined;
  #silence: NodeJS.Timeout | undefined;
  #stop: () => void = () => undefined;
  #unlink: () => void = () => undefined;
  #resolve: (e: WatchEnd) => void = () => undefined;
  readonly done: Promise<WatchEnd>;
  readonly #started = Date.now();

  constructor(
    readonly path: string,
    readonly opts: WatchOnceOptions<T>,
    readonly transport: WatchTransport,
    readonly log: Logger,
  ) {
    this.lastRv = opts.resourceVersion;
    this.done = new Promise((r) => (this.#resolve = r));
  }

  /** Arms the watchdog/abort handling; `stop` tears the underlying connection down. */
  begin(stop: () => void): void {
    this.#stop = stop;
    this.kick();
    const signal = this.opts.signal;
    if (signal) this.#unlink = linkAbort(signal, () => this.end('aborted')).unlink;
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  kick(): void {
    const ms = this.opts.silenceTimeoutMs;
    if (!ms || this.#ended) return;
    if (this.#silence) clearTimeout(this.#silence);
    this.#silence = setTimeout(() => this.end('silence'), ms);
  }

  /** Handles one serialized event; returns false once the stream has ended. */
  message(text: string): boolean {
    if (this.#ended) return false;
    this.kick();
    let ev: WatchEvent<T>;
    try {
      ev = JSON.parse(text) as WatchEvent<T>;
      if (!ev || typeof ev.type !== 'string' || !ev.object || typeof ev.object !== 'object') throw new DockerletError(ErrorCodes.WATCH_FAILED, 'not a watch event');
    } catch (err) {
      const snippet = text.length > 200 ? `${text.slice(0, 200)}…` : text;
      this.log.error({ path: this.path, transport: this.transport, err, snippet }, 'malformed watch event');
      this.end('error', new DockerletError(ErrorCodes.WATCH_FAILED, `watch ${this.path}: malformed event: ${errorMessage(err)}`, { cause: err }));
      return false;
    }
    if (ev.type === 'ERROR') {
      const st = ev.object as unknown as Partial<Status>;
      if (st.code === 410 || st.reason === 'Expired' || st.reason === 'Gone') {
        this.end('gone', new DockerletError(ErrorCodes.KUBE_GONE, `watch ${this.path}: ${st.message ?? '410 Gone'}`, { details: { status: 410, reason: st.reason } }));
      } else {
        this.end('error', apiErrorFromStatus('WATCH', this.path, st));
      }
      return false;
    }
    const rv = ev.object.metadata?.resourceVersion;
    try {
      this.opts.onEvent(ev);
    } catch (err) {
      this.log.error({ path: this.path, err, type: ev.type }, 'watch event handler threw');
    }
    if (rv) this.lastRv = rv;
    return !this.#ended;
  }

  /** Ends the stream once (later calls are ignored) and resolves `done`. */
  end(reason: Reason, error?: Error): void {
    if (this.#ended) return;
    if ((reason === 'closed') && this.opts.timeoutSeconds && Date.now() - this.#started >= this.opts.timeoutSeconds * 900) reason = 'timeout';
    const end: WatchEnd = { reason, transport: this.transport };
    if (this.lastRv !== undefined) end.lastResourceVersion = this.lastRv;
    if (error) end.error = error;
    this.#ended = end;
    if (this.#silence) clearTimeout(this.#silence);
    this.#unlink();
    try {
      this.#stop();
    } catch {
      // already closed
    }
    this.#resolve(end);
  }
}

function watchQuery<T>(opts: WatchOnceOptions<T>): Record<string, string | number | boolean | undefined> {
  return {
    ...opts.query,
    watch: 'true',
    resourceVersion: opts.resourceVersion,
    allowWatchBookmarks: opts.allowWatchBookmarks ? 'true' : undefined,
    timeoutSeconds: opts.timeoutSeconds,
  };
}

/** The upgrade was refused (or failed before it, not at connect/TLS level): try chunked HTTP. */
interface Fallback {
  fallback: true;
  error: Error;
}

function watchWebSocket<T extends KubeObject>(
  ctx: WatchContext, path: string, opts: WatchOnceOptions<T>,
): Promise<WatchEnd | Fallback> {
  const { t } = ctx;
  const url = buildUrl(t.conn.server, path, watchQuery(opts));
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const origin = new URL(t.conn.server).origin;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return resolve({ reason: 'aborted', transport: 'websocket' });
    const ws = new WebSocket(url, {
      ...tlsOptions(t.conn),
      headers: { ...baseHeaders(t), origin },
      handshakeTimeout: t.timeoutMs,
      perMessageDeflate: false,
      followRedirects: false,
    });
    const s = new Stream<T>(path, opts, 'websocket', ctx.log);
    let opened = false;
    const onAbortEarly = () => {
      ws.terminate();
      resolve({ reason: 'aborted', transport: 'websocket' });
    };
    const unlinkEarly = opts.signal ? linkAbort(opts.signal, onAbortEarly).unlink : () => {};
    ws.on('upgrade', (res) => {
      const sock = res.socket as Socket;
      sock.setKeepAlive(true, 30_000);
      ctx.onWatchSocket?.(sock, 'websocket');
    });
    ws.on('unexpected-response', (req, res) => {
      unlinkEarly();
      const status = res.statusCode ?? 0;
      readBody(t, res).catch(() => '').then((body) => {
        req.destroy();
        if (status === 410) {
          const err = apiError('WATCH', path, status, body);
          resolve({ reason: 'gone', transport: 'websocket', error: err, ...(opts.resourceVersion ? { lastResourceVersion: opts.resourceVersion } : {}) });
          return;
        }
        ctx.log.debug({ path, status }, 'websocket watch upgrade refused; trying chunked HTTP');
        resolve({ fallback: true, error: apiError('WATCH', url.pathname, status, body) });
      }, () => undefined);
    });
    ws.on('open', () => {
      opened = true;
      unlinkEarly();
      s.begin(() => ws.terminate());
      s.done.then(resolve, () => undefined);
    });
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) {
        s.end('error', new DockerletError(ErrorCodes.WATCH_FAILED, `watch ${path}: unexpected binary message`));
        return;
      }
      s.message(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString('utf8'));
    });
    ws.on('error', (err) => {
      if (opened) {
        s.end('error', transportError(t.conn.server, err) ?? err);
        return;
      }
      unlinkEarly();
      if (opts.signal?.aborted) return resolve({ reason: 'aborted', transport: 'websocket' });
      const classified = transportError(t.conn.server, err);
      if (classified) return reject(classified);
      ctx.log.debug({ path, err }, 'websocket watch failed before upgrade; trying chunked HTTP');
      resolve({ fallback: true, error: err });
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (!opened) return;
      if (code === 1000 || code === 1005) s.end('closed');
      else s.end('error', new DockerletError(ErrorCodes.WATCH_FAILED, `watch ${path}: connection lost (websocket close ${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    });
  });
}

async function watchHttp<T extends KubeObject>(ctx: WatchContext, path: string, opts: WatchOnceOptions<T>): Promise<WatchEnd> {
  const { t } = ctx;
  const url = buildUrl(t.conn.server, path, watchQuery(opts));
  if (opts.signal?.aborted) return { reason: 'aborted', transport: 'http' };
  let opened;
  try {
    opened = await openRequest(t, 'GET', url, { timeoutMs: 0, headerTimeoutMs: t.timeoutMs, longLived: true, ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    if (opts.signal?.aborted) return { reason: 'aborted', transport: 'http' };
    throw err;
  }
  const { res, destroy } = opened;
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    const body = await readBody(t, res).catch(() => '');
    destroy();
    const err = apiError('WATCH', url.pathname, status, body);
    if (status === 410) return { reason: 'gone', transport: 'http', error: err };
    throw err;
  }
  const sock = res.socket as Socket;
  sock.setKeepAlive(true, 30_000);
  ctx.onWatchSocket?.(sock, 'http');
  const s = new Stream<T>(path, opts, 'http', ctx.log);
  const lines = new LineSplitter((line) => s.message(line));
  s.begin(() => destroy());
  res.on('data', (chunk: Buffer) => {
    if (!s.ended) lines.push(chunk);
  });
  res.on('end', () => {
    lines.end();
    s.end('closed');
  });
  res.on('error', (err) => s.end('error', transportError(t.conn.server, err) ?? err));
  res.on('close', () => {
    if (!res.complete) s.end('error', new DockerletError(ErrorCodes.WATCH_FAILED, `watch ${path}: connection lost`));
  });
  return s.done;
}

/**
 * The resource a watch path names, for the reconnect counter's label: /api/v1/pods → pods,
 * /api/v1/namespaces/ns/pods → pods, /apis/coordination.k8s.io/v1/namespaces/ns/leases/n → leases,
 * /api/v1/namespaces → namespaces.
 */
export function watchResource(path: string): string {
  const segs = path.split('?')[0]!.split('/').filter(Boolean);
  const rest = segs[0] === 'api' ? segs.slice(2) : segs[0] === 'apis' ? segs.slice(3) : segs;
  if (rest[0] === 'namespaces' && rest.length >= 3) return rest[2]!;
  return rest[0] ?? 'unknown';
}

/** Opens one watch stream, honouring and updating the client's transport preference. */
export async function watchOnce<T extends KubeObject>(ctx: WatchContext, path: string, opts: WatchOnceOptions<T>): Promise<WatchEnd> {
  let end: WatchEnd;
  try {
    end = await watchOnceInner(ctx, path, opts);
  } catch (err) {
    if (!opts.signal?.aborted) watchReconnects.inc({ resource: watchResource(path) });
    throw err;
  }
  if (end.reason !== 'aborted') watchReconnects.inc({ resource: watchResource(path) });
  return end;
}

async function watchOnceInner<T extends KubeObject>(ctx: WatchContext, path: string, opts: WatchOnceOptions<T>): Promise<WatchEnd> {
  const transport = ctx.mode === 'auto' ? ctx.state.preferred : ctx.mode;
  if (transport === 'http') return watchHttp(ctx, path, opts);
  const r = await watchWebSocket(ctx, path, opts);
  if (!('fallback' in r)) return r;
  if (ctx.mode === 'websocket') {
    throw new DockerletError(ErrorCodes.WATCH_FAILED, `watch ${path}: WebSocket upgrade refused: ${errorMessage(r.error)}`, { cause: r.error });
  }
  const end = await watchHttp(ctx, path, opts);
  if (ctx.state.preferred !== 'http') {
    ctx.state.preferred = 'http';
    ctx.log.info({ server: ctx.t.conn.server }, 'WebSocket watch refused by the server; using chunked HTTP watches from now on');
  }
  return end;
}
