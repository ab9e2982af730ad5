// A minimal SPDY/3.1 client for tests, shaped like moby/spdystream's client side (what kubectl and the
// apiserver run): odd stream ids, header blocks compressed through one dictionary-primed zlib context
// with a sync flush each (as Go's compress/zlib writes them), and a frame reader that inflates the
// server's header blocks through one context too. Test-only.
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import type { Duplex } from 'node:stream';
import { SPDY3_DICTIONARY } from '../../../agent/server/streaming/spdy/dictionary.js';
import {
  encodeData, encodeGoaway, encodePing, encodeRstStream, encodeSynStream, encodeWindowUpdate, FLAG_FIN, FrameParser, type Frame,
} from '../../../agent/server/streaming/spdy/frames.js';
import { decodeNameValues, encodeNameValues, type HeaderMap } from '../../../agent/server/streaming/spdy/headers.js';

export interface ClientStream {
  id: number;
  data: Buffer[];
  fin: boolean;
  reset?: number;
  replied: boolean;
  replyHeaders?: HeaderMap;
  text(): string;
}

/** Runs zlib operations one at a time, collecting exactly the output of each sync flush. */
function zrun(z: Deflate | Inflate, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const onData = (c: Buffer) => out.push(c);
    z.on('data', onData);
    z.once('error', reject);
    z.write(input);
    z.flush(constants.Z_SYNC_FLUSH, () => {
      z.off('data', onData);
      z.off('error', reject);
      resolve(Buffer.concat(out));
    });
  });
}

export class SpdyTestClient {
  readonly streams = new Map<number, ClientStream>();
  readonly frames: Frame[] = [];
  readonly pings: number[] = [];
  goaway?: { lastGoodStreamId: number; status: number };
  closed = false;
  private nextId = 1;
  private readonly socket: Duplex;
  private readonly parser = new FrameParser();
  private readonly deflate = createDeflate({ dictionary: SPDY3_DICTIONARY });
  private readonly inflate = createInflate({ dictionary: SPDY3_DICTIONARY });
  private chain: Promise<unknown> = Promise.resolve();
  private waiters: (() => void)[] = [];

  constructor(socket: Duplex, head: Buffer = Buffer.alloc(0)) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.onBytes(c));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
    if (head.length) this.onBytes(head);
  }

  async open(headers: Record<string, string>, opts: { fin?: boolean } = {}): Promise<ClientStream> {
    const id = this.nextId;
    this.nextId += 2;
    const block = await zrun(this.deflate, encodeNameValues(headers));
    const s: ClientStream = { id, data: [], fin: false, replied: false, text: () => Buffer.concat(s.data).toString('utf8') };
    this.streams.set(id, s);
    this.socket.write(encodeSynStream(id, opts.fin ? FLAG_FIN : 0, block));
    return s;
  }

  write(s: ClientStream, data: Buffer | string, fin = false): void {
    this.socket.write(encodeData(s.id, fin ? FLAG_FIN : 0, Buffer.from(data)));
  }

  end(s: ClientStream): void {
    this.socket.write(encodeData(s.id, FLAG_FIN, Buffer.alloc(0)));
  }

  reset(s: ClientStream, status = 5): void {
    this.socket.write(encodeRstStream(s.id, status));
  }

  ping(id: number): void {
    this.socket.write(encodePing(id));
  }

  windowUpdate(streamId: number, delta: number): void {
    this.socket.write(encodeWindowUpdate(streamId, delta));
  }

  sendGoaway(): void {
    this.socket.write(encodeGoaway(this.nextId - 2, 0));
  }

  raw(buf: Buffer): void {
    this.socket.write(buf);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Waits until pred() holds (checked after every frame), or rejects after timeoutMs. */
  async until(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  private wake(): void {
    const w = this.waiters.splice(0);
    for (const f of w) f();
  }

  private onBytes(chunk: Buffer): void {
    for (const f of this.parser.push(chunk)) {
      this.chain = this.chain.then(() => this.onFrame(f));
    }
  }

  private async onFrame(f: Frame): Promise<void> {
    this.frames.push(f);
    switch (f.type) {
      case 'syn_reply': {
        const headers = decodeNameValues(await zrun(this.inflate, f.headerBlock));
        const s = this.streams.get(f.streamId);
        if (s) {
          s.replied = true;
          s.replyHeaders = headers;
          if (f.flags & FLAG_FIN) s.fin = true;
        }
        break;
      }
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (s) {
          if (f.data.length) s.data.push(f.data);
          if (f.flags & FLAG_FIN) s.fin = true;
        }
        break;
      }
      case 'rst_stream': {
        const s = this.streams.get(f.streamId);
        if (s) s.reset = f.status;
        break;
      }
      case 'ping':
        this.pings.push(f.id);
        break;
      case 'goaway':
        this.goaway = { lastGoodStreamId: f.lastGoodStreamId, status: f.status };
        break;
      default:
        break;
    }
    this.wake();
  }
}
