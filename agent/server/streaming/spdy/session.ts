// The server side of one SPDY/3.1 connection, following moby/spdystream's connection.go (what the
// apiserver and kubectl speak): the peer opens odd-numbered streams with SYN_STREAM and the session
// hands each to onStream; PINGs the peer starts are echoed; GOAWAY stops new streams; frames are
// handled strictly in order (header blocks share one zlib context). Flow control: spdystream never
// sends WINDOW_UPDATE, so send windows are enforced only once a peer shows it does flow control (its
// first WINDOW_UPDATE), and then received data is acknowledged with WINDOW_UPDATE as it is consumed.
// Otherwise backpressure is TCP's: socket.write()'s return value for output, and the socket paused
// while any stream's reader is full for input (spdystream's head-of-line behaviour).
import type { Duplex } from 'node:stream';
import { DockerletError, ErrorCodes } from '../../../../lib/errors.js';
import type { Logger } from '../../../../lib/log.js';
import {
  encodeDataHeader, encodeGoaway, encodePing, encodeRstStream, encodeSynReply, encodeWindowUpdate, FLAG_FIN,
  FrameParser, GoawayStatus, RstStatus, SETTINGS_INITIAL_WINDOW_SIZE, spdyProtocolError, type Frame,
} from './frames.js';
import { HeaderDeflater, HeaderInflater } from './headers.js';
import { SpdyStream, type StreamHost } from './stream.js';

/** SPDY/3's default initial stream window (§2.6.8). */
export const DEFAULT_WINDOW = 64 * 1024;
/** Largest DATA frame payload written (spdystream reads whole frames into memory). */
export const MAX_DATA_FRAME = 64 * 1024;

export interface SessionOptions {
  log: Logger;
  onStream: (stream: SpdyStream) => void;
  /** Close the connection after this long without traffic (kubelet streamingConnectionIdleTimeout, 4 h). */
  idleTimeoutMs?: number;
  /** Concurrent streams before new ones are refused (REFUSED_STREAM). */
  maxStreams?: number;
}

export class SpdySession implements StreamHost {
  readonly closed: Promise<void>;
  private readonly socket: Duplex;
  private readonly opts: SessionOptions;
  private readonly parser = new FrameParser();
  private readonly inflater = new HeaderInflater();
  private readonly deflater = new HeaderDeflater();
  private readonly streams = new Map<number, SpdyStream>();
  private readonly queue: Frame[] = [];
  private readonly full = new Set<SpdyStream>();
  private readonly drainWaiters: (() => void)[] = [];
  private readonly windowWaiters = new Map<number, () => void>();
  private pumping = false;
  private lastPeerStreamId = 0;
  private goingAway = false;
  private isClosed = false;
  private peerFlowControl = false;
  private initialWindow = DEFAULT_WINDOW;
  private resolveClosed!: () => void;

  constructor(socket: Duplex, opts: SessionOptions) {
    this.socket = socket;
    this.opts = opts;
    this.closed = new Promise((r) => (this.resolveClosed = r));
  }

  /** Starts reading; head is what the HTTP parser read past the upgrade request. */
  start(head?: Buffer): void {
    const s = this.socket;
    s.on('data', (c: Buffer) => this.onBytes(c));
    s.on('drain', () => this.flushDrainWaiters());
    s.once('end', () => this.destroy());
    s.once('close', () => this.destroy());
    s.on('error', (err) => {
      this.opts.log.debug({ err }, 'spdy connection error');
      this.destroy();
    });
    const idle = this.opts.idleTimeoutMs ?? 4 * 3600_000;
    if ('setTimeout' in s && typeof s.setTimeout === 'function') {
      (s as unknown as { setTimeout(ms: number, cb: () => void): void }).setTimeout(idle, () => this.close());
    }
    if (head && head.length > 0) this.onBytes(head);
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  /** GOAWAY, reset what is open, and close the connection (the kubelet's conn.Close()). */
  close(): void {
    if (this.isClosed) return;
    if (!this.goingAway) {
      this.goingAway = true;
      this.write(encodeGoaway(this.lastPeerStreamId, GoawayStatus.OK));
    }
    for (const s of [...this.streams.values()]) s.reset(RstStatus.CANCEL);
    this.socket.end();
    const t = setTimeout(() => this.destroy(), 2000);
    t.unref();
  }

  /** Drops the connection at once; every stream is destroyed. */
  destroy(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const s of [...this.streams.values()]) {
      s.wasReset = true;
      s.destroy();
    }
    this.streams.clear();
    this.full.clear();
    this.inflater.close();
    this.flushDrainWaiters();
    for (const w of [...this.windowWaiters.values()]) w();
    this.socket.destroy();
    this.resolveClosed();
  }

  // --- StreamHost ---

  sendReply(stream: SpdyStream): void {
    this.opts.log.trace({ stream: stream.id, headers: stream.headers }, 'spdy reply');
    this.write(encodeSynReply(stream.id, 0, this.deflater.encode({})));
  }

  sendReset(stream: SpdyStream, status: number): void {
    this.write(encodeRstStream(stream.id, status));
  }

  sendData(stream: SpdyStream, data: Buffer, fin: boolean, cb: (err?: Error | null) => void): void {
    let off = 0;
    const step = (): void => {
      if (this.isClosed) return cb(new DockerletError(ErrorCodes.STREAM, 'connection closed'));
      if (stream.wasReset) return cb(new DockerletError(ErrorCodes.STREAM, `stream ${stream.id} was reset`));
      let ok = true;
      while (off < data.length) {
        let n = Math.min(MAX_DATA_FRAME, data.length - off);
        if (this.peerFlowControl) {
          if (stream.sendWindow <= 0) {
            this.windowWaiters.set(stream.id, step);
            return;
          }
          n = Math.min(n, stream.sendWindow);
          stream.sendWindow -= n;
        }
        const last = off + n >= data.length;
        const piece = data.subarray(off, off + n);
        off += n;
        // One write per frame (corked): over TLS each write is a record of its own.
        this.socket.cork();
        this.socket.write(encodeDataHeader(stream.id, last && fin ? FLAG_FIN : 0, piece.length));
        ok = this.socket.write(piece);
        this.socket.uncork();
        if (!last && !ok) {
          this.drainWaiters.push(step);
          return;
        }
      }
      if (data.length === 0) ok = this.write(encodeDataHeader(stream.id, fin ? FLAG_FIN : 0, 0));
      if (ok) cb();
      else this.drainWaiters.push(() => cb(this.isClosed ? new DockerletError(ErrorCodes.STREAM, 'connection closed') : null));
    };
    step();
  }

  readMore(stream: SpdyStream): void {
    if (this.full.delete(stream) && this.full.size === 0 && !this.isClosed) this.socket.resume();
  }

  consumed(stream: SpdyStream, bytes: number): void {
    if (this.peerFlowControl && !this.isClosed && this.streams.has(stream.id)) this.write(encodeWindowUpdate(stream.id, bytes));
  }

  forget(stream: SpdyStream): void {
    this.streams.delete(stream.id);
    this.windowWaiters.delete(stream.id);
    this.readMore(stream);
    if (this.goingAway && this.streams.size === 0) this.close();
  }

  // --- inbound ---

  private write(buf: Buffer): boolean {
    if (this.isClosed || this.socket.destroyed || this.socket.writableEnded) return true;
    return this.socket.write(buf);
  }

  private flushDrainWaiters(): void {
    const waiters = this.drainWaiters.splice(0);
    for (const w of waiters) w();
  }

  private onBytes(chunk: Buffer): void {
    if (this.isClosed) return;
    try {
      this.queue.push(...this.parser.push(chunk));
    } catch (err) {
      return this.protocolError(err);
    }
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.isClosed) {
        const frame = this.queue.shift()!;
        if (this.opts.log.isLevelEnabled('trace')) this.opts.log.trace({ frame: describe(frame) }, 'spdy frame in');
        if (frame.type === 'syn_stream' || frame.type === 'syn_reply' || frame.type === 'headers') {
          const headers = await this.inflater.decode(frame.headerBlock);
          if (frame.type === 'syn_stream') this.onSynStream(frame, headers);
        } else this.onFrame(frame);
      }
    } catch (err) {
      this.protocolError(err);
    } finally {
      this.pumping = false;
    }
  }

  private onSynStream(frame: Extract<Frame, { type: 'syn_stream' }>, headers: Record<string, string[]>): void {
    const id = frame.streamId;
    if (id % 2 === 0 || id <= this.lastPeerStreamId) {
      throw spdyProtocolError(`invalid stream id ${id} (last ${this.lastPeerStreamId})`);
    }
    this.lastPeerStreamId = id;
    if (this.goingAway) return void this.write(encodeRstStream(id, RstStatus.REFUSED_STREAM));
    if (this.streams.size >= (this.opts.maxStreams ?? 1000)) {
      return void this.write(encodeRstStream(id, RstStatus.REFUSED_STREAM));
    }
    const stream = new SpdyStream(this, id, headers, this.initialWindow, (frame.flags & FLAG_FIN) !== 0);
    this.streams.set(id, stream);
    stream.on('error', (err) => this.opts.log.debug({ err, stream: id }, 'spdy stream error'));
    this.opts.onStream(stream);
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'data': {
        const s = this.streams.get(frame.streamId);
        if (!s) {
          if (frame.streamId > this.lastPeerStreamId) throw spdyProtocolError(`data for unopened stream ${frame.streamId}`);
          return; // late data for a stream already closed or reset
        }
        if (!s.onData(frame.data)) {
          this.full.add(s);
          this.socket.pause();
        }
        if (frame.flags & FLAG_FIN) s.onRemoteFin();
        return;
      }
      case 'rst_stream':
        this.streams.get(frame.streamId)?.onRemoteReset();
        return;
      case 'ping':
        // Echo the peer's pings (odd ids from a client); ours would be even (spdystream handlePingFrame).
        if (frame.id % 2 === 1) this.write(encodePing(frame.id));
        return;
      case 'goaway':
        this.goingAway = true;
        if (this.streams.size === 0) this.close();
        return;
      case 'settings':
        for (const e of frame.entries) {
          if (e.id !== SETTINGS_INITIAL_WINDOW_SIZE) continue;
          const delta = e.value - this.initialWindow;
          this.initialWindow = e.value;
          for (const s of this.streams.values()) s.sendWindow += delta;
        }
        return;
      case 'window_update': {
        this.peerFlowControl = true;
        const s = this.streams.get(frame.streamId);
        if (!s) return;
        s.sendWindow += frame.delta;
        const w = this.windowWaiters.get(s.id);
        if (w && s.sendWindow > 0) {
          this.windowWaiters.delete(s.id);
          w();
        }
        return;
      }
      default:
        return; // SYN_REPLY/HEADERS handled by pump; unknown control frames are ignored (§2.2.1)
    }
  }

  private protocolError(err: unknown): void {
    if (this.isClosed) return;
    this.opts.log.info({ err }, 'spdy protocol error; closing the connection');
    this.queue.length = 0;
    if (!this.goingAway) this.write(encodeGoaway(this.lastPeerStreamId, GoawayStatus.PROTOCOL_ERROR));
    this.goingAway = true;
    this.close();
  }
}

function describe(f: Frame): Record<string, unknown> {
  if (f.type === 'data') return { type: f.type, streamId: f.streamId, flags: f.flags, length: f.data.length };
  if ('headerBlock' in f) return { type: f.type, streamId: f.streamId, flags: f.flags, block: f.headerBlock.length };
  if (f.type === 'unknown') return { type: f.type, controlType: f.controlType };
  return { ...f };
}
