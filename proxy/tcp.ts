// A TCP listener for one service port: accept → pick an endpoint → dial (retry ladder) → splice.
// Tracks open connections per endpoint so connections to an endpoint that leaves the slice are
// closed, while endpoints that stay (even not ready) keep theirs.
import net, { type Server, type Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Logger } from '../lib/log.js';
import { silentLogger } from '../lib/log.js';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import type { Balancer } from './balancer.js';
import { ProxyConn, type ConnOwner, type DataPathMode } from './conn.js';
import { rawBindings, serverHandle, type RawTcpHandle } from './raw/binding.js';
import { RawConn, type RawOwner } from './raw/conn.js';
import { BufferPool } from './raw/pool.js';
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
   * Reset a connection after about this long without traffic in either direction (0 = never).
   * Checked by a sweep every idleTimeout/4, so the reset comes within 1–1.25 × the timeout.
   */
  idleTimeoutMs?: number;
  maxConnections?: number;
  mode?: DataPathMode;
  /** Stream highWaterMark for both legs (bytes); Node's default when unset. */
  highWaterMark?: number;
  /** onread mode: size of the pooled read buffer each open connection holds (memory = size × connections). */
  readBufferSize?: number;
  backlog?: number;
  /**
   * An already-listening server to adopt instead of binding one (a shard process receives its copy of
   * the primary's listening socket over IPC); stop() closes only this copy.
   */
  server?: Server;
  log?: Logger;
}

export const TCP_DEFAULTS = {
  idleTimeoutMs: 3_600_000,
  maxConnections: 65_536,
  /** The native relay where it is built, else 'raw' where this Node exposes the libuv handle bindings, else the net.Socket pump. */
  mode: (nativeRelay() ? 'native' : rawBindings() ? 'raw' : 'pump') as DataPathMode,
  readBufferSize: 16 * 1024,
  backlog: 4096,
};

const MAX_POOLED_BUFFERS = 256;
/** Granularity of raw dial timeouts (the ladder's shortest step is 250 ms). */
const DIAL_SWEEP_MS = 25;
const IDLE_SWEEPS = 4;

/** The data path actually used for a requested mode ('native' falls back to 'raw', 'raw' to 'pump', when unavailable). */
export function effectiveMode(mode: DataPathMode | undefined): DataPathMode {
  let m = mode ?? TCP_DEFAULTS.mode;
  if (m === 'native' && !nativeRelay()) m = 'raw';
  if (m === 'raw' && !rawBindings()) m = 'pump';
  return m;
}

export class TcpListener implements ConnOwner, RawOwner {
  readonly key: string;
  readonly #stats = new ListenerStats();
  readonly balancer: Balancer;
  readonly dialTimeoutsMs: readonly number[];
  clientNoDelay = false;
  readonly idleTimeoutMs: number;
  readonly mode: DataPathMode;
  readonly highWaterMark: number | undefined;
  readonly #opts: TcpListenerOptions;
  readonly #log: Logger;
  #server: Server | null = null;
  #port = 0;
  /** Every live connection, from accept (dialing) to close. */
  #conns = new Set<TrackedConn>();
  #pool: Buffer[] = [];
  /** The native relay's side of this listener (mode 'native'). */
  readonly #native: NativeTcp | null;

  constructor(opts: TcpListenerOptions) {
    this.#opts = opts;
    this.key = opts.key;
    this.balancer = opts.balancer;
    this.dialTimeoutsMs = opts.dialTimeoutsMs ?? DIAL_TIMEOUTS_MS;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? TCP_DEFAULTS.idleTimeoutMs;
    // An adopted JavaScript server (a shard's copy of the primary's socket) cannot move into the relay.
    const mode = effectiveMode(opts.mode);
    this.mode = mode === 'native' && opts.server ? effectiveMode('raw') : mode;
    this.highWaterMark = opts.highWaterMark;
    this.#log = opts.log ?? silentLogger();
    const relay = this.mode === 'native' ? nativeRelay() : null;
    this.#native = relay ? new NativeTcp(relay, opts.key) : null;
  }

  /** Counters (in native mode read from the relay on each access). */
  get stats(): ListenerStats {
    this.#native?.readStats(this.#stats);
    return this.#stats;
  }

  /** Binds and starts accepting; resolves with the bound port. */
  async start(): Promise<number> {
    if (this.#server || this.#native?.listening) return this.#port;
    if (this.#native) {
      const o = this.#opts;
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
    const given = this.#opts.server;
    const server = given ?? net.createServer(srvOpts);
    if (given) Object.assign(given, { allowHalfOpen: true, noDelay: true });
    if (this.mode !== 'raw') server.on('connection', (s: Socket) => this.#onConnection(s));
    server.maxConnections = this.#opts.maxConnections ?? TCP_DEFAULTS.maxConnections;
    server.on('drop', () => { this.stats.drops++; });
    this.#server = server;
    if (given) {
      if (!given.listening) await new Promise<void>((resolve) => given.once('listening', () => resolve()));
      return this.#listening(given);
    }
    await new Promise<void>((resolve, reject) => {
      const onErr = (err: Error) => reject(new DockerletError(ErrorCodes.PROXY, `listen for ${this.key} failed: ${err.message}`, { cause: err }));
      server.once('error', onErr);
      server.listen({ host: this.#opts.bindAddress ?? '0.0.0.0', port: this.#opts.port ?? 0, backlog: this.#opts.backlog ?? TCP_DEFAULTS.backlog }, () => {
        server.off('error', onErr);
        resolve();
      });
    }).catch((err) => { this.#server = null; throw err; });
    return this.#listening(server);
  }

  #listening(server: Server): number {
    server.on('error', (err: NodeJS.ErrnoException) => this.#onServerError(err));
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : 0;
    if (this.mode === 'raw') this.#takeOver(server);
    return this.#port;
  }

  // Raw mode: the listening handle's connection callback is replaced, so accepted connections never
  // become net.Sockets. Accept errors (EMFILE…) arrive as a negative status.
  #takeOver(server: Server): void {
    const b = rawBindings();
    const h = serverHandle(server);
    if (!b || !h) throw new DockerletError(ErrorCodes.PROXY, `raw data path unavailable for ${this.key}`);
    const max = server.maxConnections;
    // Accepted sockets inherit TCP_NODELAY from the listening socket on Linux: one setsockopt per connection saved.
    this.clientNoDelay = process.platform === 'linux' && h.setNoDelay(true) === 0;
    h.onconnection = (status: number, client: RawTcpHandle | undefined) => {
      if (status < 0 || !client) {
        const code = status < 0 ? getSystemErrorName(status) : 'ENOHANDLE';
        this.#onServerError(Object.assign(new Error(`accept failed: ${code}`), { code }));
        return;
      }
      if (this.#conns.size >= max) { this.stats.drops++; client.close(); return; }
      new RawConn(b, this, client).start();
    };
  }

  get port(): number {
    return this.#port;
  }

  /** The listening server (the primary sends it to shard processes); null before start / after stop. */
  get server(): Server | null {
    return this.#server;
  }

  #onConnection(s: Socket): void {
    const conn = new ProxyConn(this, s);
    conn.start();
  }

  #errorsLogged = 0;
  #onServerError(err: NodeJS.ErrnoException): void {
    // EMFILE/ENFILE from accept: libuv has already closed the pending connection; keep serving.
    this.stats.listenerErrors++;
    if (this.#errorsLogged++ % 1000 === 0) this.#log.warn({ err: err.message, code: err.code, key: this.key, count: this.stats.listenerErrors }, 'listener error');
  }

  /** New endpoint list for this service port: selection is refreshed; connections to endpoints that left are reset. */
  setEndpoints(endpoints: readonly EndpointInfo[]): void {
    this.balancer.update(endpoints);
    if (this.#native) {
      const closed = this.#native.update(this.balancer, endpoints);
      if (closed) this.#log.info({ key: this.key, closed }, 'endpoints removed; closed their connections');
      return;
    }
    if (this.#conns.size === 0) return;
    const present = new Set<string>();
    for (const e of endpoints) present.add(`${e.ip}:${e.port}`);
    let closed = 0;
    for (const c of this.#conns) {
      if (c.target && !present.has(c.target.key)) { c.abort('endpoint-removed'); closed++; }
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

  takeBuffer(): Buffer {
    return this.#pool.pop() ?? Buffer.allocUnsafe(this.#opts.readBufferSize ?? TCP_DEFAULTS.readBufferSize);
  }

  giveBuffer(buf: Buffer): void {
    if (this.#pool.length < MAX_POOLED_BUFFERS) this.#pool.push(buf);
  }

  // Raw dials: one sweep timer for every dial in flight instead of a timer per connection.
  #dialing = new Set<RawConn>();
  #dialSweep: NodeJS.Timeout | null = null;

  dialing(conn: RawConn): void {
    this.#dialing.add(conn);
    if (!this.#dialSweep) this.#dialSweep = setInterval(() => this.#sweepDials(), DIAL_SWEEP_MS);
  }

  dialDone(conn: RawConn): void {
    this.#dialing.delete(conn);
  }

  #sweepDials(): void {
    const now = performance.now();
    for (const c of this.#dialing) if (c.dialDeadline <= now) c.dialTimedOut();
    if (this.#dialing.size === 0 && this.#dialSweep) { clearInterval(this.#dialSweep); this.#dialSweep = null; }
  }

  takeReadBuffer(bulk: boolean): Buffer | null {
    return (bulk ? BufferPool.bulk : BufferPool.small).take();
  }

  giveReadBuffer(buf: Buffer): void {
    (buf.length === BufferPool.bulk.size ? BufferPool.bulk : BufferPool.small).give(buf);
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
    if (this.#dialSweep) { clearInterval(this.#dialSweep); this.#dialSweep = null; }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of [...this.#conns]) (c as ProxyConn | RawConn).kill();
    this.#pool = [];
    await closed;
  }
}
