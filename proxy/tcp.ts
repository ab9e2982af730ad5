// A TCP listener for one service port: accept → pick an endpoint → dial (retry ladder) → splice.
// The data path is the native relay (proxy/native/) where it loads and starts, else the net.Socket
// pump (conn.ts). As upstream's userspace proxier, an endpoint that leaves the slice only stops
// getting new connections; its established ones stay unless closeRemovedEndpointConnections is set.
// No idle reset unless idleTimeoutMs is set (upstream has none).
import net, { type Server, type Socket } from 'node:net';
import { partLogger, type Logger } from '../lib/log.js';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import type { Balancer } from './balancer.js';
import { ProxyConn, type ConnOwner, type DataPathMode } from './conn.js';
import { ListenerStats } from './stats.js';
import { nativeRelay } from './native/engine.js';
import { NativeTcp } from './native/listener.js';
import { DIAL_TIMEOUTS_MS, type EndpointInfo, type TrackedConn } from './types.js';

export interface TcpListenerOptions {
  /** Service port key (ns/svc:port), for logs and metrics. */
  key: string;
  balancer: Balancer;
  bindAddress?: string;
  /** 0 (default) = a kernel-chosen free port. */
  port?: number;
  dialTimeoutsMs?: readonly number[];
  /**
   * Reset a connection after about this long without traffic in either direction (0, the default:
   * never). Checked by a sweep every idleTimeout/4, so the reset comes within 1–1.25 × the timeout.
   */
  idleTimeoutMs?: number;
  /** Reset the established connections of an endpoint that leaves the slice (default false: they stay, as upstream). */
  closeRemovedEndpointConnections?: boolean;
  maxConnections?: number;
  /** 'native' (default where it loads and starts) or 'pump'. */
  mode?: DataPathMode;
  /** Stream highWaterMark for both legs (bytes, pump only); Node's default when unset. */
  highWaterMark?: number;
  backlog?: number;
  log?: Logger;
}

export const TCP_DEFAULTS = {
  idleTimeoutMs: 0,
  maxConnections: 65_536,
  backlog: 4096,
};

const IDLE_SWEEPS = 4;

/** The data path actually used for a requested mode: 'native' falls back to 'pump' when the relay is unavailable. */
export function effectiveMode(mode: DataPathMode | undefined): DataPathMode {
  return (mode ?? 'native') === 'native' && nativeRelay() ? 'native' : 'pump';
}

export class TcpListener implements ConnOwner {
  readonly key: string;
  readonly #stats = new ListenerStats();
  readonly balancer: Balancer;
  readonly dialTimeoutsMs: readonly number[];
  readonly idleTimeoutMs: number;
  readonly mode: DataPathMode;
  readonly highWaterMark: number | undefined;
  readonly #opts: TcpListenerOptions;
  readonly #log: Logger;
  #server: Server | null = null;
  #port = 0;
  /** Every live connection, from accept (dialing) to close. */
  #conns = new Set<TrackedConn>();
  /** The native relay's side of this listener (mode 'native'). */
  readonly #native: NativeTcp | null;

  constructor(opts: TcpListenerOptions) {
    this.#opts = opts;
    this.key = opts.key;
    this.balancer = opts.balancer;
    this.dialTimeoutsMs = opts.dialTimeoutsMs ?? DIAL_TIMEOUTS_MS;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? TCP_DEFAULTS.idleTimeoutMs;
    this.mode = effectiveMode(opts.mode);
    this.highWaterMark = opts.highWaterMark;
    this.#log = partLogger(opts.log, 'tcp-listener');
    const relay = this.mode === 'native' ? nativeRelay() : null;
    this.#native = relay ? new NativeTcp(relay, opts.key) : null;
  }

  /**
   * Counters: in native mode read from the relay; in pump mode a copy with the bytes of the open
   * connections added (a long-lived connection's traffic shows before it closes).
   */
  get stats(): ListenerStats {
    if (this.#native) {
      this.#native.readStats(this.#stats);
      return this.#stats;
    }
    const s = Object.assign(new ListenerStats(), this.#stats);
    for (const c of this.#conns) {
      if (!(c instanceof ProxyConn) || !c.isConnected()) continue;
      s.bytesIn += c.client.bytesRead;
      s.bytesOut += c.client.bytesWritten;
    }
    return s;
  }

  /** The pump's counters, for its connections to update. */
  get counters(): ListenerStats {
    return this.#stats;
  }

  /** Binds and starts accepting; resolves with the bound port. */
  async start(): Promise<number> {
    if (this.#server || this.#native?.listening) return this.#port;
    const o = this.#opts;
    if (this.#native) {
      this.#port = this.#native.listen({
        host: o.bindAddress ?? '0.0.0.0', port: o.port ?? 0, backlog: o.backlog ?? TCP_DEFAULTS.backlog,
        maxConnections: o.maxConnections ?? TCP_DEFAULTS.maxConnections, idleTimeoutMs: this.idleTimeoutMs, dialTimeoutsMs: this.dialTimeoutsMs,
      }, this.balancer);
      return this.#port;
    }
    // No pauseOnConnect: it costs a readStop + readStart per connection; bytes sent before the endpoint
    // answers wait in the readable buffer (bounded by highWaterMark) instead of the kernel's.
    const srvOpts: net.ServerOpts = { allowHalfOpen: true, noDelay: true };
    if (this.highWaterMark) srvOpts.highWaterMark = this.highWaterMark;
    const server = net.createServer(srvOpts);
    server.on('connection', (s: Socket) => new ProxyConn(this, s).start());
    server.maxConnections = o.maxConnections ?? TCP_DEFAULTS.maxConnections;
    server.on('drop', () => { this.#stats.drops++; });
    await new Promise<void>((resolve, reject) => {
      const onErr = (err: Error) => reject(new DockerletError(ErrorCodes.PROXY, `listen for ${this.key} failed: ${err.message}`, { cause: err }));
      server.once('error', onErr);
      server.listen({ host: o.bindAddress ?? '0.0.0.0', port: o.port ?? 0, backlog: o.backlog ?? TCP_DEFAULTS.backlog }, () => {
        server.off('error', onErr);
        resolve();
      });
    });
    this.#server = server;
    server.on('error', (err: NodeJS.ErrnoException) => this.#onServerError(err));
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : 0;
    return this.#port;
  }

  get port(): number {
    return this.#port;
  }

  #errorsLogged = 0;
  #onServerError(err: NodeJS.ErrnoException): void {
    // EMFILE/ENFILE from accept: libuv has already closed the pending connection; keep serving.
    this.#stats.listenerErrors++;
    if (this.#errorsLogged++ % 1000 === 0) this.#log.warn({ err, key: this.key, count: this.#stats.listenerErrors }, 'listener error');
  }

  /**
   * New endpoint list for this service port: new connections go to the refreshed selection;
   * connections to endpoints that left are reset only with closeRemovedEndpointConnections.
   */
  setEndpoints(endpoints: readonly EndpointInfo[]): void {
    this.balancer.update(endpoints);
    const close = this.#opts.closeRemovedEndpointConnections ?? false;
    if (this.#native) {
      const closed = this.#native.update(this.balancer, endpoints, close);
      if (closed) this.#log.info({ key: this.key, closed }, 'endpoints removed; closed their connections');
      return;
    }
    if (!close || this.#conns.size === 0) return;
    const present = new Set<string>();
    for (const e of endpoints) present.add(`${e.ip}:${e.port}`);
    let closed = 0;
    for (const c of this.#conns) {
      if (!c.target || present.has(c.target.key)) continue;
      // A client still dialing it moves on to the next endpoint; an established connection is reset.
      if (!c.isConnected()) { (c as ProxyConn).redial(); continue; }
      c.abort('endpoint-removed');
      closed++;
    }
    if (closed) this.#log.info({ key: this.key, closed }, 'endpoints removed; closed their connections');
  }

  track(conn: TrackedConn): void {
    this.#conns.add(conn);
    if (!this.#sweep && this.idleTimeoutMs > 0 && this.#server) this.#scheduleSweep();
  }

  // Idle detection without a timer per socket: every idleTimeout/IDLE_SWEEPS a sweep compares each
  // connection's byte counters with the last sweep; IDLE_SWEEPS sweeps without activity ⇒ reset.
  #sweep: NodeJS.Timeout | null = null;
  #scheduleSweep(): void {
    const every = Math.max(10, Math.floor(this.idleTimeoutMs / IDLE_SWEEPS));
    this.#sweep = setTimeout(() => {
      this.#sweep = null;
      for (const c of this.#conns) {
        if (!c.isConnected()) continue;
        const a = c.activity();
        if (a !== c.idleMark) { c.idleMark = a; c.idleSweeps = 0; continue; }
        if (++c.idleSweeps >= IDLE_SWEEPS) c.abort('idle');
      }
      if (this.#conns.size > 0 && this.#server) this.#scheduleSweep();
    }, every);
    this.#sweep.unref();
  }

  untrack(conn: TrackedConn): void {
    this.#conns.delete(conn);
  }

  /** Open (connected) proxied connections per endpoint key. */
  connectionsByEndpoint(): Map<string, number> {
    if (this.#native) return this.#native.connectionsByEndpoint();
    const m = new Map<string, number>();
    for (const c of this.#conns) {
      if (c.target && c.isConnected()) m.set(c.target.key, (m.get(c.target.key) ?? 0) + 1);
    }
    return m;
  }

  /** Stops accepting and resets every open connection. */
  async stop(): Promise<void> {
    if (this.#native) {
      this.#native.readStats(this.#stats);
      this.#native.close();
      return;
    }
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    if (this.#sweep) { clearTimeout(this.#sweep); this.#sweep = null; }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of [...this.#conns]) (c as ProxyConn).kill();
    await closed;
  }
}
