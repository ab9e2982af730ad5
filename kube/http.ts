// The HTTP layer under the client: one keep-alive agent per client, JSON requests with an overall
// timeout and abort signal, and raw streaming responses for chunked watches.
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { linkAbort } from '../lib/lifecycle.js';
import { apiError, asTransportError, unreachable } from './errors.js';
import { authHeader, tlsOptions, type KubeConnection } from './connection.js';

export type Query = Record<string, string | number | boolean | undefined>;

let version: string | undefined;
/** dockerlet's version from package.json (read once, lazily). */
export function dockerletVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
      version = pkg.version ?? '0.0.0';
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}

export interface Transport {
  readonly conn: KubeConnection;
  readonly agent: http.Agent;
  /** Long-lived streams (chunked HTTP watches): no socket limit, so they never hold up REST calls. */
  readonly streamAgent: http.Agent;
  readonly userAgent: string;
  readonly timeoutMs: number;
}

export function createTransport(conn: KubeConnection, opts: { userAgent?: string; timeoutMs?: number } = {}): Transport {
  const isHttps = conn.server.startsWith('https:');
  // REST only (watches are WebSockets of their own). client-go multiplexes one HTTP/2 connection; here at
  // most 32 kept-alive TLS connections, reused: a burst (100 pods' events, patches and token requests)
  // queues for a socket instead of opening and tearing down a connection per request.
  const agentOpts = { keepAlive: true, keepAliveMsecs: 30_000, maxSockets: 32, maxFreeSockets: 32, scheduling: 'lifo' as const };
  const agent = isHttps ? new https.Agent({ ...agentOpts, ...tlsOptions(conn) }) : new http.Agent(agentOpts);
  const streamAgent = isHttps ? new https.Agent({ keepAlive: false, ...tlsOptions(conn) }) : new http.Agent({ keepAlive: false });
  return Object.freeze({
    conn,
    agent,
    streamAgent,
    userAgent: opts.userAgent ?? `dockerlet/${dockerletVersion()}`,
    timeoutMs: opts.timeoutMs ?? 30_000,
  });
}

/** server + API path + query → URL (keeps a path prefix in server, drops undefined query values). */
export function buildUrl(server: string, path: string, query?: Query): URL {
  const u = new URL(server);
  u.pathname = u.pathname.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
  return u;
}

export function baseHeaders(t: Transport): Record<string, string> {
  return { 'user-agent': t.userAgent, ...authHeader(t.conn) };
}

export function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  return new DOMException('The operation was aborted', 'AbortError');
}

interface SendOptions {
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** 0 = no overall timeout (streams). */
  timeoutMs?: number;
  /** Streams: give up when the response headers take longer than this (ms). */
  headerTimeoutMs?: number;
  /** A stream that stays open (a watch): uses the transport's streamAgent. */
  longLived?: boolean;
}

/**
 * Issues one request and resolves with the response once headers arrive. Transport failures reject
 * with KUBE_UNREACHABLE / KUBE_TLS; an abort rejects with the signal's reason.
 * When `timeoutMs` > 0 the timer keeps running until `done()` is called (covering the body).
 */
export function openRequest(
  t: Transport, method: string, url: URL, opts: SendOptions = {},
): Promise<{ res: IncomingMessage; done(): void; destroy(err?: Error): void }> {
  return new Promise((resolve, reject) => {
    const signal = opts.signal;
    if (signal?.aborted) return reject(abortError(signal));
    const mod = url.protocol === 'https:' ? https : http;
    const headers: Record<string, string> = { ...baseHeaders(t), accept: 'application/json', ...opts.headers };
    if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = mod.request(url, { method, agent: opts.longLived ? t.streamAgent : t.agent, headers });
    let settled = false;
    let aborted = false;
    const timeoutMs = opts.timeoutMs ?? t.timeoutMs;
    const timer = timeoutMs > 0
      ? setTimeout(() => req.destroy(unreachable(t.conn.server, `${method} ${url.pathname} timed out after ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs)
      : undefined;
    const headerTimer = opts.headerTimeoutMs
      ? setTimeout(() => req.destroy(unreachable(t.conn.server, `${method} ${url.pathname}: no response within ${opts.headerTimeoutMs} ms`, 'ETIMEDOUT')), opts.headerTimeoutMs)
      : undefined;
    const onAbort = () => {
      aborted = true;
      req.destroy(abortError(signal as AbortSignal));
    };
    const unlink = signal ? linkAbort(signal, onAbort).unlink : () => {};
    const done = () => {
      if (timer) clearTimeout(timer);
      if (headerTimer) clearTimeout(headerTimer);
      unlink();
    };
    req.on('error', (err) => {
      done();
      if (settled) return;
      settled = true;
      reject(aborted ? err : asTransportError(t.conn.server, err));
    });
    req.on('response', (res) => {
      settled = true;
      if (headerTimer) clearTimeout(headerTimer);
      resolve({ res, done, destroy: (err?: Error) => { done(); req.destroy(err); } });
    });
    req.end(opts.body);
  });
}

/** Reads a whole response body as text (rejects with a transport error on a broken stream). */
export function readBody(t: Transport, res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', (err) => reject(err.name === 'AbortError' ? err : asTransportError(t.conn.server, err)));
    res.on('close', () => {
      if (!res.complete) reject(unreachable(t.conn.server, 'connection closed before the response ended', 'ECONNRESET'));
    });
  });
}

/** One JSON request: rejects with KUBE_API for non-2xx (with Status details). */
export async function requestJson<T>(
  t: Transport, method: string, path: string, query: Query | undefined, opts: SendOptions & { contentType?: string; json?: unknown },
): Promise<T> {
  const url = buildUrl(t.conn.server, path, query);
  const headers: Record<string, string> = { ...opts.headers };
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['content-type'] = opts.contentType ?? 'application/json';
  }
  const { res, done } = await openRequest(t, method, url, { ...opts, headers, body });
  try {
    const text = await readBody(t, res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw apiError(method, url.pathname, status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  } finally {
    done();
  }
}
