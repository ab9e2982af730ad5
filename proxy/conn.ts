// One proxied TCP connection: dial with the retry ladder, then splice both directions with
// backpressure, forward half-closes, propagate resets, and always tear both sockets down.
// Event handlers are module-level functions (no per-connection closures); sockets carry their
// connection and peer under symbols.
import net, { type Socket } from 'node:net';
import type { Balancer } from './balancer.js';
import type { ListenerStats } from './stats.js';
import type { Target, TrackedConn } from './types.js';

/**
 * How bytes are moved: 'native' = the native relay (proxy/native/), the fast path; 'pump' =
 * net.Socket with this file's pump, the one fallback (hosts without a compiler, an engine that
 * cannot start).
 */
export type DataPathMode = 'native' | 'pump';

export interface ConnOwner {
  readonly balancer: Balancer;
  /** The counters the connection updates (final byte counts at close). */
  readonly counters: ListenerStats;
  readonly dialTimeoutsMs: readonly number[];
  readonly highWaterMark: number | undefined;
  track(conn: TrackedConn): void;
  untrack(conn: TrackedConn): void;
}

const kConn = Symbol('dockerlet.conn');
const kPeer = Symbol('dockerlet.peer');
type Tagged = Socket & { [kConn]?: ProxyConn | null; [kPeer]?: Socket };

export class ProxyConn implements TrackedConn {
  readonly client: Tagged;
  backend: Tagged | null = null;
  target: Target | null = null;
  #owner: ConnOwner;
  #attempt = 0;
  #connected = false;
  #open = 1;
  #finished = false;
  /** Idle sweep state (see TcpListener): activity seen at the last sweep and sweeps without any since. */
  idleMark = 0;
  idleSweeps = 0;

  constructor(owner: ConnOwner, client: Socket) {
    this.#owner = owner;
    this.client = client as Tagged;
  }

  start(): void {
    const c = this.client;
    c[kConn] = this;
    c.on('error', onSockError);
    c.on('close', onSockClose);
    this.#owner.track(this);
    this.#dial();
  }

  #dial(): void {
    const o = this.#owner;
    if (this.#attempt >= o.dialTimeoutsMs.length) return this.#reject();
    // getpeername is a syscall: only ClientIP affinity needs the client address.
    const t = o.balancer.next(o.balancer.sticky ? (this.client.remoteAddress ?? '') : '', this.#attempt > 0);
    if (!t) return this.#reject();
    this.target = t;
    const opts: net.NetConnectOpts & { highWaterMark?: number } = { host: t.ip, port: t.port, noDelay: true, allowHalfOpen: true };
    if (o.highWaterMark) opts.highWaterMark = o.highWaterMark;
    const b = net.connect(opts) as Tagged;
    this.backend = b;
    b[kConn] = this;
    b.on('error', onSockError);
    b.on('close', onSockClose);
    b.once('connect', onBackendConnect);
    b.on('timeout', onSockTimeout);
    b.setTimeout(o.dialTimeoutsMs[this.#attempt]!);
    this.#attempt++;
  }

  /** A dial attempt failed (error or per-try timeout): forget that socket and try the next endpoint. */
  dialFailed(b: Tagged): void {
    if (b !== this.backend || this.#connected) return;
    this.#owner.counters.connectFailures++;
    b[kConn] = null;
    b.destroy();
    this.backend = null;
    if (this.client.destroyed) return this.#finish();
    this.#dial();
  }

  /** The endpoint being dialed left the slice: drop this attempt (not the endpoint's failure) and try the next. */
  redial(): void {
    const b = this.backend;
    if (this.#connected || !b) return;
    b[kConn] = null;
    b.destroy();
    this.backend = null;
    this.#dial();
  }

  #reject(): void {
    this.#owner.counters.rejects++;
    this.target = null;
    resetSocket(this.client);
  }

  connected(): void {
    const b = this.backend!;
    const c = this.client;
    if (c.destroyed) { b.destroy(); return; }
    this.#connected = true;
    this.#open = 2;
    this.#owner.counters.connectionsTotal++;
    this.#owner.counters.active++;
    b.setTimeout(0);
    c[kPeer] = b;
    b[kPeer] = c;
    c.on('data', onData);
    c.on('end', onEnd);
    b.on('drain', onDrain);
    b.on('data', onData);
    c.on('drain', onDrain);
    b.on('end', onEnd);
    c.resume();
  }

  /** Idle timeout or endpoint removal: reset both sides. */
  abort(reason: 'idle' | 'endpoint-removed'): void {
    if (this.#finished) return;
    if (reason === 'idle') this.#owner.counters.idleTimeouts++;
    else this.#owner.counters.endpointRemovalCloses++;
    resetSocket(this.client);
    if (this.backend) resetSocket(this.backend);
  }

  /** Listener shutdown: reset both sides, no counters. */
  kill(): void {
    resetSocket(this.client);
    if (this.backend) resetSocket(this.backend);
  }

  /**
   * One socket reported an error after the dial phase (a reset, ETIMEDOUT, EHOSTUNREACH...): the peer
   * gets a reset, never a FIN, so a truncated stream cannot look complete.
   */
  socketError(s: Tagged): void {
    const peer = s === this.client ? this.backend : this.client;
    if (!peer || peer.destroyed) return;
    resetSocket(peer);
  }

  socketClosed(s: Tagged): void {
    if (!this.#connected) {
      // The client went away while we were dialing: drop the attempt.
      if (s === this.client) {
        const b = this.backend;
        if (b) { b[kConn] = null; b.destroy(); this.backend = null; }
        this.#finish();
      }
      return;
    }
    const peer = s === this.client ? this.backend! : this.client;
    // After a clean close the peer is only flushing what is left (the idle sweep still bounds it).
    const clean = s.readableEnded && s.writableFinished;
    if (!peer.destroyed && !clean) peer.destroy();
    if (--this.#open === 0) this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    const o = this.#owner;
    if (this.#connected) {
      o.counters.active--;
      o.counters.bytesIn += this.client.bytesRead;
      o.counters.bytesOut += this.client.bytesWritten;
    }
    o.untrack(this);
    this.client[kConn] = null;
    if (this.backend) this.backend[kConn] = null;
  }

  /** Bytes moved in either direction so far (client side counters see both). */
  activity(): number {
    return this.client.bytesRead + this.client.bytesWritten;
  }

  isConnected(): boolean {
    return this.#connected;
  }
}

/** RST when possible (TCP handle present), otherwise a plain destroy. */
export function resetSocket(s: Socket): void {
  if (s.destroyed) return;
  if (s.connecting) { s.destroy(); return; }
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}

function onSockError(this: Tagged): void {
  const c = this[kConn];
  if (!c) return;
  if (this === c.backend && !c.isConnected()) c.dialFailed(this);
  else c.socketError(this);
}

function onSockClose(this: Tagged): void {
  const c = this[kConn];
  if (!c) return;
  if (this === c.backend && !c.isConnected()) c.dialFailed(this);
  else c.socketClosed(this);
}

function onSockTimeout(this: Tagged): void {
  const c = this[kConn];
  if (!c) return;
  if (this === c.backend && !c.isConnected()) c.dialFailed(this);
  else c.abort('idle');
}

function onBackendConnect(this: Tagged): void {
  const c = this[kConn];
  if (c && this === c.backend) c.connected();
}

function onData(this: Tagged, chunk: Buffer): void {
  if (!this[kPeer]!.write(chunk)) this.pause();
}

function onDrain(this: Tagged): void {
  this[kPeer]!.resume();
}

function onEnd(this: Tagged): void {
  this[kPeer]!.end();
}
