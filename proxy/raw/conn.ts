// One proxied TCP connection on raw libuv handles (see binding.ts): dial with the retry ladder,
// then relay both directions. Each connected leg reads into a pooled 16 KiB buffer of its own (no
// allocation per read; fresh buffers from Node's allocator when the pool is exhausted), and a
// direction that has moved BULK_AFTER bytes switches to a pooled 1 MiB one (fewer, larger reads).
// Each read is written straight to the peer; a write that cannot finish synchronously stops
// reading that direction until it completes (backpressure), so a leg's buffer is never refilled
// while libuv still sends from it. EOF is forwarded as shutdown(SHUT_WR); when both directions have ended
// both handles are closed; a reset is forwarded as a reset. All callbacks are module-level
// functions; handles and requests carry their leg under a symbol.
import type { Balancer } from '../balancer.js';
import type { ListenerStats } from '../stats.js';
import type { Target, TrackedConn } from '../types.js';
import { UV_EOF, type RawBindings, type RawConnectReq, type RawTcpHandle, type RawWriteReq } from './binding.js';

export interface RawOwner {
  readonly balancer: Balancer;
  readonly stats: ListenerStats;
  readonly dialTimeoutsMs: readonly number[];
  /** TCP_NODELAY is set on the listening socket, which accepted sockets inherit (Linux). */
  readonly clientNoDelay: boolean;
  track(conn: RawConn): void;
  untrack(conn: RawConn): void;
  /** conn is dialing until its dialDeadline (performance.now() ms); the owner calls dialTimedOut() after it. */
  dialing(conn: RawConn): void;
  dialDone(conn: RawConn): void;
  /** A per-leg read buffer (small, or large for a bulk direction), or null when that pool is exhausted. */
  takeReadBuffer(bulk: boolean): Buffer | null;
  giveReadBuffer(buf: Buffer): void;
}

/** A direction that has read this many bytes switches to a pooled large buffer. */
export const BULK_AFTER = 1 << 20;
const ECONNRESET = -104;
const EPIPE = -32;
const kLeg = Symbol('dockerlet.leg');
const kConn = Symbol('dockerlet.rawconn');

class Leg {
  readonly conn: RawConn;
  readonly handle: RawTcpHandle;
  peer!: Leg;
  /** Bytes read from this handle. */
  bytes = 0;
  eof = false;
  /** shutdown() was called on this handle (a reset is then refused by libuv: close instead). */
  shutdownIssued = false;
  /** Writes to this handle still queued in libuv. */
  pending = 0;
  /** Reads from this handle are stopped because the peer's write queue is not empty. */
  paused = false;
  /** The pooled buffer this handle reads into (null: a fresh buffer from Node's allocator per read). */
  ubuf: Buffer | null = null;
  bulk = false;
  /** readStart() was called before the connect completed (backend legs). */
  reading = false;

  constructor(conn: RawConn, handle: RawTcpHandle) {
    this.conn = conn;
    this.handle = handle;
    handle[kLeg] = this;
  }
}

export class RawConn implements TrackedConn {
  readonly #b: RawBindings;
  readonly #owner: RawOwner;
  readonly client: Leg;
  backend: Leg | null = null;
  target: Target | null = null;
  idleMark = 0;
  idleSweeps = 0;
  #attempt = 0;
  #connected = false;
  #finished = false;
  /** performance.now() by which the current dial attempt must have connected. */
  dialDeadline = 0;

  constructor(b: RawBindings, owner: RawOwner, client: RawTcpHandle) {
    this.#b = b;
    this.#owner = owner;
    this.client = new Leg(this, client);
  }

  get bindings(): RawBindings {
    return this.#b;
  }

  start(): void {
    this.#owner.track(this);
    this.#dial();
  }

  #dial(): void {
    const o = this.#owner;
    while (this.#attempt < o.dialTimeoutsMs.length) {
      const t = o.balancer.next(o.balancer.sticky ? peerAddress(this.client.handle) : '', this.#attempt > 0);
      if (!t) break;
      this.target = t;
      const h = this.#b.newSocket();
      const req = this.#b.newConnectReq();
      req.oncomplete = onConnect;
      req[kConn] = this;
      const err = t.ip.includes(':') ? h.connect6(req, t.ip, t.port) : h.connect(req, t.ip, t.port);
      const timeoutMs = o.dialTimeoutsMs[this.#attempt]!;
      this.#attempt++;
      if (err) { o.stats.connectFailures++; h.close(); continue; }
      this.backend = new Leg(this, h);
      // Reading may start while the connect is in flight (libuv reports nothing but the connect until
      // it completes): the fd is then registered once for both, as HAProxy does, not twice.
      h.onread = onRead;
      this.backend.reading = h.readStart() === 0;
      this.dialDeadline = performance.now() + timeoutMs;
      o.dialing(this);
      return;
    }
    this.#reject();
  }

  /** connect() finished for handle h (which may be a superseded attempt). */
  connectDone(h: RawTcpHandle, status: number): void {
    if (this.#finished || !this.backend || this.backend.handle !== h || this.#connected) return;
    this.#owner.dialDone(this);
    if (status < 0) return this.dialFailed(h);
    this.#connected = true;
    const o = this.#owner;
    const s = o.stats;
    s.connectionsTotal++;
    s.active++;
    const c = this.client;
    const b = this.backend;
    c.peer = b;
    b.peer = c;
    c.handle.onread = onRead;
    if (!o.clientNoDelay) c.handle.setNoDelay(true);
    b.handle.setNoDelay(true);
    this.#useBuffer(c, false);
    this.#useBuffer(b, false);
    c.handle.readStart();
    if (!b.reading) b.handle.readStart();
  }

  /** The owner's sweep found the current attempt past its deadline. */
  dialTimedOut(): void {
    if (this.backend && !this.#connected) this.dialFailed(this.backend.handle);
  }

  /** A dial attempt failed or timed out: drop that handle and try the next endpoint. */
  dialFailed(h: RawTcpHandle): void {
    if (this.#finished || !this.backend || this.backend.handle !== h || this.#connected) return;
    this.#owner.dialDone(this);
    this.#owner.stats.connectFailures++;
    this.backend = null;
    h.close();
    this.#dial();
  }

  #reject(): void {
    this.#owner.stats.rejects++;
    this.target = null;
    this.#teardown('reset-client');
  }

  abort(reason: 'idle' | 'endpoint-removed'): void {
    if (this.#finished) return;
    if (reason === 'idle') this.#owner.stats.idleTimeouts++;
    else this.#owner.stats.endpointRemovalCloses++;
    this.#teardown('reset-both');
  }

  /** Listener shutdown: reset both sides, no counters. */
  kill(): void {
    this.#teardown('reset-both');
  }

  /** A read returned an error on leg l. */
  readError(l: Leg, status: number): void {
    this.#teardown(status === ECONNRESET || status === EPIPE ? (l === this.client ? 'reset-backend' : 'reset-client') : 'close');
  }

  /**
   * Leg l reached EOF. When the other direction has ended too, both handles close once nothing is
   * left to write (close sends what is queued in the kernel, then FIN). Otherwise the half-close is
   * forwarded: shutdown(SHUT_WR) on the peer, after its queued writes. No completion callback is
   * needed: the connection ends when the peer's EOF arrives.
   */
  ended(l: Leg): void {
    l.eof = true;
    const p = l.peer;
    if (p.eof) return this.drained();
    const req = this.#b.newShutdownReq();
    p.shutdownIssued = true;
    if (p.handle.shutdown(req) !== 0) this.#teardown('close');
  }

  /** Both directions have ended: close once no write is queued (else the last write completion calls again). */
  drained(): void {
    if (this.client.pending === 0 && this.backend!.pending === 0) this.#teardown('close');
  }

  #teardown(how: 'close' | 'reset-client' | 'reset-backend' | 'reset-both'): void {
    if (this.#finished) return;
    this.#finished = true;
    if (!this.#connected) this.#owner.dialDone(this);
    closeLeg(this.client, how === 'reset-client' || how === 'reset-both');
    if (this.backend) closeLeg(this.backend, how === 'reset-backend' || how === 'reset-both');
    const o = this.#owner;
    if (this.#connected) {
      o.stats.active--;
      o.stats.bytesIn += this.client.bytes;
      o.stats.bytesOut += this.backend!.bytes;
    }
    if (this.client.ubuf) { o.giveReadBuffer(this.client.ubuf); this.client.ubuf = null; }
    if (this.backend?.ubuf) { o.giveReadBuffer(this.backend.ubuf); this.backend.ubuf = null; }
    o.untrack(this);
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** Leg l has moved BULK_AFTER bytes and nothing it read is still queued: read into a large buffer from now on. */
  promote(l: Leg): void {
    l.bulk = true;
    this.#useBuffer(l, true);
  }

  #useBuffer(l: Leg, bulk: boolean): void {
    const buf = this.#owner.takeReadBuffer(bulk);
    if (!buf) return;
    if (l.ubuf) this.#owner.giveReadBuffer(l.ubuf);
    l.ubuf = buf;
    l.handle.useUserBuffer(buf);
  }

  activity(): number {
    return this.client.bytes + (this.backend?.bytes ?? 0);
  }

  isConnected(): boolean {
    return this.#connected;
  }
}

// uv_tcp_close_reset refuses a handle with a shutdown in flight, and Node then marks the handle as
// closing without closing it: never ask for a reset there, close (FIN) instead.
function closeLeg(l: Leg, reset: boolean): void {
  if (reset && !l.shutdownIssued) l.handle.reset();
  else l.handle.close();
}

function peerAddress(h: RawTcpHandle): string {
  const out: { address?: string } = {};
  return h.getpeername(out) === 0 ? (out.address ?? '') : '';
}

// Called as oncomplete(status, handle, req, readable, writable).
function onConnect(this: RawConnectReq, status: number, handle?: RawTcpHandle): void {
  const c = this[kConn] as RawConn;
  if (handle) c.connectDone(handle, status);
}

function onWriteDone(this: RawWriteReq, status: number): void {
  const l = this[kLeg] as Leg;
  this.buffer = null;
  l.pending--;
  const c = l.conn;
  if (c.finished) return;
  if (status < 0) return c.readError(l, status);
  const src = l.peer;
  if (l.eof && src.eof) return c.drained();
  if (l.pending === 0 && src.paused && !src.eof) { src.paused = false; src.handle.readStart(); }
}

let spareWriteReq: RawWriteReq | null = null;

function newWriteReq(b: RawBindings): RawWriteReq {
  const req = b.newWriteReq();
  req.oncomplete = onWriteDone;
  return req;
}

function onRead(this: RawTcpHandle, ab: ArrayBuffer | undefined): void {
  const l = this[kLeg] as Leg;
  const c = l.conn;
  if (c.finished) return;
  const b = c.bindings;
  const n = b.state[b.kReadBytesOrError]!;
  if (n > 0) {
    const buf = l.ubuf ? l.ubuf.subarray(0, n) : Buffer.from(ab!, b.state[b.kArrayBufferOffset]!, n);
    l.bytes += n;
    const p = l.peer;
    // One request object serves every write that completes synchronously (libuv keeps no reference
    // to it then); a write left queued keeps its request and buffer, and a new spare is made.
    const req = spareWriteReq ?? newWriteReq(b);
    req[kLeg] = p;
    const err = p.handle.writeBuffer(req, buf);
    if (err) return c.readError(p, err);
    if (b.state[b.kLastWriteWasAsync]) {
      // libuv still references buf: keep it alive and stop reading this side until the write is done.
      req.buffer = buf;
      spareWriteReq = null;
      p.pending++;
      if (!l.paused) { l.paused = true; this.readStop(); }
    } else {
      spareWriteReq = req;
    }
    // Promote only while no write from this leg's buffer is queued (libuv still reads from it then).
    if (l.bytes >= BULK_AFTER && !l.bulk && p.pending === 0) c.promote(l);
    return;
  }
  if (n === 0) return;
  if (n === UV_EOF) return c.ended(l);
  c.readError(l, n);
}
