// One SPDY/3.1 stream as a Node Duplex, with moby/spdystream's stream semantics (stream.go): the peer
// opens it with SYN_STREAM; the server answers SYN_REPLY (empty headers) before any DATA; end() sends an
// empty DATA frame with FIN (half-close); a peer's FIN ends the readable side; reset() sends RST_STREAM
// and a peer's RST_STREAM destroys the stream. A stream that both sides have closed leaves the session.
import { Duplex } from 'node:stream';
import { DockerletError, ErrorCodes } from '../../../../lib/errors.js';
import type { HeaderMap } from './headers.js';
import { RstStatus } from './frames.js';

/** What a stream needs from its session (implemented by SpdySession). */
export interface StreamHost {
  sendReply(stream: SpdyStream): void;
  /** Sends data (split into frames, flow-controlled); calls back once the socket took it. */
  sendData(stream: SpdyStream, data: Buffer, fin: boolean, cb: (err?: Error | null) => void): void;
  sendReset(stream: SpdyStream, status: number): void;
  /** The stream's reader wants more data (inbound backpressure released). */
  readMore(stream: SpdyStream): void;
  /** Bytes the stream's reader consumed (for WINDOW_UPDATE when the peer does flow control). */
  consumed(stream: SpdyStream, bytes: number): void;
  forget(stream: SpdyStream): void;
}

export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: HeaderMap;
  replied = false;
  /** The peer half-closed (FIN received). */
  remoteClosed = false;
  /** We half-closed (FIN sent). */
  localClosed = false;
  /** Reset by either side. */
  wasReset = false;
  /** The send window, used only once the peer shows it does flow control. */
  sendWindow: number;
  /** Inbound bytes pushed and not yet reported consumed. */
  unacked = 0;
  private readonly host: StreamHost;

  constructor(host: StreamHost, id: number, headers: HeaderMap, initialWindow: number, remoteFin: boolean) {
    super({ allowHalfOpen: true, highWaterMark: 256 * 1024 });
    this.host = host;
    this.id = id;
    this.headers = headers;
    this.sendWindow = initialWindow;
    if (remoteFin) this.onRemoteFin();
  }

  /** The first value of a header (names are lower-case), or undefined. */
  header(name: string): string | undefined {
    return this.headers[name.toLowerCase()]?.[0];
  }

  /** Accepts the stream: SYN_REPLY with an empty header block. Idempotent. */
  reply(): void {
    if (this.replied || this.wasReset || this.destroyed) return;
    this.replied = true;
    this.host.sendReply(this);
  }

  /** Refuses or aborts the stream with RST_STREAM (default CANCEL) and destroys it. */
  reset(status: number = RstStatus.CANCEL): void {
    if (!this.wasReset && !this.destroyed) {
      this.wasReset = true;
      this.host.sendReset(this, status);
    }
    this.destroy();
  }

  /** From the session: DATA arrived. Returns false when the reader is full (pause the socket). */
  onData(data: Buffer): boolean {
    if (this.remoteClosed || this.destroyed) return true;
    this.unacked += data.length;
    return data.length === 0 ? true : this.push(data);
  }

  onRemoteFin(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
    this.maybeForget();
  }

  onRemoteReset(): void {
    this.wasReset = true;
    this.destroy();
  }

  override _read(): void {
    if (this.unacked > 0) {
      const n = this.unacked;
      this.unacked = 0;
      this.host.consumed(this, n);
    }
    this.host.readMore(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.wasReset) return cb(new DockerletError(ErrorCodes.STREAM, `stream ${this.id} was reset`));
    this.reply();
    this.host.sendData(this, chunk, false, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.wasReset) return cb();
    this.reply();
    this.host.sendData(this, Buffer.alloc(0), true, (err) => {
      this.localClosed = true;
      this.maybeForget();
      cb(err);
    });
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    // Destroyed before both sides finished: tell the peer, as spdystream's Close/Reset do.
    if (!this.wasReset && !(this.localClosed && this.remoteClosed)) {
      this.wasReset = true;
      this.host.sendReset(this, RstStatus.CANCEL);
    }
    this.host.forget(this);
    cb(err);
  }

  private maybeForget(): void {
    if (this.localClosed && this.remoteClosed) this.host.forget(this);
  }
}
