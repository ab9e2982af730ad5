// Docker log stream handling: strip the 8-byte multiplexing headers (non-tty containers) and cap
// the output at limitBytes, keeping stdout and stderr interleaved in arrival order.
import { Transform, type TransformCallback } from 'node:stream';
import type { LogOptions } from '../types.js';

const HEADER = 8;

/**
 * A Transform that demultiplexes Docker's `[type,0,0,0,len32be]payload` frames into one byte
 * stream (when `multiplexed`), and ends after `limitBytes` bytes (when given).
 */
export class LogStream extends Transform {
  readonly #multiplexed: boolean;
  readonly #limit: number;
  #pending: Buffer = Buffer.alloc(0);
  #frameLeft = 0;
  #emitted = 0;
  #done = false;

  constructor(opts: { multiplexed: boolean; limitBytes?: number }) {
    super();
    this.#multiplexed = opts.multiplexed;
    this.#limit = opts.limitBytes && opts.limitBytes > 0 ? opts.limitBytes : Infinity;
  }

  override _transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#done) return cb();
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.#multiplexed) {
      this.#emit(buf);
      return cb();
    }
    let data = this.#pending.length ? Buffer.concat([this.#pending, buf]) : buf;
    this.#pending = Buffer.alloc(0);
    while (data.length > 0 && !this.#done) {
      if (this.#frameLeft === 0) {
        if (data.length < HEADER) {
          this.#pending = Buffer.from(data);
          break;
        }
        this.#frameLeft = data.readUInt32BE(4);
        data = data.subarray(HEADER);
        continue;
      }
      const n = Math.min(this.#frameLeft, data.length);
      this.#emit(data.subarray(0, n));
      this.#frameLeft -= n;
      data = data.subarray(n);
    }
    cb();
  }

  #emit(buf: Buffer): void {
    if (buf.length === 0 || this.#done) return;
    const room = this.#limit - this.#emitted;
    const out = buf.length > room ? buf.subarray(0, room) : buf;
    this.#emitted += out.length;
    this.push(Buffer.from(out));
    if (this.#emitted >= this.#limit) {
      this.#done = true;
      this.push(null);
    }
  }
}

/** Query parameters of GET /containers/{id}/logs for the given options. */
export function logsQuery(opts: LogOptions, nowMs: number): Record<string, string | number | boolean> {
  const q: Record<string, string | number | boolean> = {
    stdout: true,
    stderr: true,
    follow: opts.follow ?? false,
    timestamps: opts.timestamps ?? false,
    tail: opts.tailLines !== undefined && opts.tailLines >= 0 ? String(opts.tailLines) : 'all',
  };
  if (opts.sinceSeconds !== undefined && opts.sinceSeconds > 0) q.since = Math.floor(nowMs / 1000) - opts.sinceSeconds;
  return q;
}
