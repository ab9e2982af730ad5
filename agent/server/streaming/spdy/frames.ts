// SPDY/3.1 frame layout (draft-mbelshe-httpbis-spdy-00 §2.2-2.6, as moby/spdystream's spdy/read.go and
// write.go read and write it): an incremental parser for the bytes a peer sends and encoders for the
// frames a server writes. Header blocks stay compressed here; headers.ts inflates and deflates them.
import { DockerletError, ErrorCodes, isCode } from '../../../../lib/errors.js';

export const SPDY_VERSION = 3;

export const ControlType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes (§2.6.3). */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
} as const;

/** GOAWAY status codes (§2.6.6). */
export const GoawayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** SETTINGS ids the session reads (§2.6.4). */
export const SETTINGS_INITIAL_WINDOW_SIZE = 7;

/** The largest frame payload accepted from a peer (the 24-bit length field allows 16 MiB). */
export const MAX_FRAME_PAYLOAD = 0xffffff;

export type Frame =
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | { type: 'syn_stream'; streamId: number; assocId: number; priority: number; flags: number; headerBlock: Buffer }
  | { type: 'syn_reply'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; flags: number; entries: { id: number; flags: number; value: number }[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'headers'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'window_update'; streamId: number; delta: number }
  | { type: 'unknown'; controlType: number; flags: number; payload: Buffer };

/** A frame the peer sent that cannot be parsed (STREAM_PROTOCOL); the session answers with GOAWAY PROTOCOL_ERROR. */
export function spdyProtocolError(message: string, cause?: unknown): DockerletError {
  return new DockerletError(ErrorCodes.STREAM_PROTOCOL, message, cause === undefined ? undefined : { cause });
}

/** True for a SPDY protocol error (code STREAM_PROTOCOL). */
export function isSpdyProtocolError(err: unknown): boolean {
  return isCode(err, ErrorCodes.STREAM_PROTOCOL);
}

/**
 * The former error class's name, kept as a predicate so `assert.throws(fn, SpdyProtocolError)` still
 * checks the code (an arrow function has no prototype: node:assert calls it as a validator).
 * @deprecated use isSpdyProtocolError / isCode(err, ErrorCodes.STREAM_PROTOCOL).
 */
export const SpdyProtocolError = (err: unknown): boolean => isSpdyProtocolError(err);

const STREAM_ID_MASK = 0x7fffffff;

/** Splits a byte stream into frames; push() returns every frame completed by the chunk. */
export class FrameParser {
  private chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): Frame[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.size += chunk.length;
    const frames: Frame[] = [];
    while (this.size >= 8) {
      const head = this.peek(8);
      const total = 8 + head.readUIntBE(5, 3);
      if (this.size < total) break; // wait for the rest without copying what is held
      const buf = this.take(total);
      frames.push(parseFrame(buf.subarray(0, 8), buf.subarray(8)));
    }
    return frames;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.size;
  }

  /** The first n bytes (n <= size), joining chunks only as far as needed. */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) {
      const joined = Buffer.concat(this.chunks);
      this.chunks = [joined];
    }
    return this.chunks[0]!.subarray(0, n);
  }

  /** Removes and returns the first n bytes (n <= size). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const parts: Buffer[] = [];
      let need = n;
      while (need > 0) {
        const c = this.chunks[0]!;
        if (c.length <= need) {
          parts.push(c);
          this.chunks.shift();
          need -= c.length;
        } else {
          parts.push(c.subarray(0, need));
          this.chunks[0] = c.subarray(need);
          need = 0;
        }
      }
      out = Buffer.concat(parts, n);
    }
    this.size -= n;
    return out;
  }
}

function parseFrame(head: Buffer, payload: Buffer): Frame {
  const flags = head[4]!;
  if ((head[0]! & 0x80) === 0) {
    return { type: 'data', streamId: head.readUInt32BE(0) & STREAM_ID_MASK, flags, data: payload };
  }
  const version = head.readUInt16BE(0) & 0x7fff;
  if (version !== SPDY_VERSION) throw spdyProtocolError(`unsupported SPDY version ${version}`);
  const type = head.readUInt16BE(2);
  const need = (n: number, name: string) => {
    if (payload.length < n) throw spdyProtocolError(`${name} frame too short (${payload.length} bytes)`);
  };
  switch (type) {
    case ControlType.SYN_STREAM:
      need(10, 'SYN_STREAM');
      return {
        type: 'syn_stream',
        streamId: payload.readUInt32BE(0) & STREAM_ID_MASK,
        assocId: payload.readUInt32BE(4) & STREAM_ID_MASK,
        priority: payload[8]! >> 5,
        flags,
        headerBlock: payload.subarray(10),
      };
    case ControlType.SYN_REPLY:
      need(4, 'SYN_REPLY');
      return { type: 'syn_reply', streamId: payload.readUInt32BE(0) & STREAM_ID_MASK, flags, headerBlock: payload.subarray(4) };
    case ControlType.RST_STREAM:
      need(8, 'RST_STREAM');
      return { type: 'rst_stream', streamId: payload.readUInt32BE(0) & STREAM_ID_MASK, status: payload.readUInt32BE(4) };
    case ControlType.SETTINGS: {
      need(4, 'SETTINGS');
      const count = payload.readUInt32BE(0);
      if (payload.length !== 4 + count * 8) throw spdyProtocolError('SETTINGS length does not match its entry count');
      const entries = [];
      for (let i = 0; i < count; i++) {
        const o = 4 + i * 8;
        entries.push({ flags: payload[o]!, id: payload.readUIntBE(o + 1, 3), value: payload.readUInt32BE(o + 4) });
      }
      return { type: 'settings', flags, entries };
    }
    case ControlType.PING:
      need(4, 'PING');
      return { type: 'ping', id: payload.readUInt32BE(0) };
    case ControlType.GOAWAY:
      need(8, 'GOAWAY');
      return { type: 'goaway', lastGoodStreamId: payload.readUInt32BE(0) & STREAM_ID_MASK, status: payload.readUInt32BE(4) };
    case ControlType.HEADERS:
      need(4, 'HEADERS');
      return { type: 'headers', streamId: payload.readUInt32BE(0) & STREAM_ID_MASK, flags, headerBlock: payload.subarray(4) };
    case ControlType.WINDOW_UPDATE:
      need(8, 'WINDOW_UPDATE');
      return { type: 'window_update', streamId: payload.readUInt32BE(0) & STREAM_ID_MASK, delta: payload.readUInt32BE(4) & STREAM_ID_MASK };
    default:
      return { type: 'unknown', controlType: type, flags, payload };
  }
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new RangeError('SPDY control frame too large');
  const head = Buffer.alloc(8);
  head.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  head.writeUInt16BE(type, 2);
  head[4] = flags;
  head.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([head, payload]);
}

/** The 8-byte header of a DATA frame; the payload follows it unchanged (no copy). */
export function encodeDataHeader(streamId: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_PAYLOAD) throw new RangeError('SPDY data frame too large');
  const head = Buffer.alloc(8);
  head.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  head[4] = flags;
  head.writeUIntBE(length, 5, 3);
  return head;
}

export function encodeData(streamId: number, flags: number, data: Buffer): Buffer {
  return Buffer.concat([encodeDataHeader(streamId, flags, data.length), data]);
}

export function encodeSynStream(streamId: number, flags: number, headerBlock: Buffer, priority = 0, assocId = 0): Buffer {
  const p = Buffer.alloc(10);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(assocId & STREAM_ID_MASK, 4);
  p[8] = (priority & 0x7) << 5;
  return control(ControlType.SYN_STREAM, flags, Buffer.concat([p, headerBlock]));
}

export function encodeSynReply(streamId: number, flags: number, headerBlock: Buffer): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  return control(ControlType.SYN_REPLY, flags, Buffer.concat([p, headerBlock]));
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(status, 4);
  return control(ControlType.RST_STREAM, 0, p);
}

export function encodeSettings(entries: { id: number; flags?: number; value: number }[], flags = 0): Buffer {
  const p = Buffer.alloc(4 + entries.length * 8);
  p.writeUInt32BE(entries.length, 0);
  entries.forEach((e, i) => {
    p[4 + i * 8] = e.flags ?? 0;
    p.writeUIntBE(e.id, 5 + i * 8, 3);
    p.writeUInt32BE(e.value >>> 0, 8 + i * 8);
  });
  return control(ControlType.SETTINGS, flags, p);
}

export function encodePing(id: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(id >>> 0, 0);
  return control(ControlType.PING, 0, p);
}

export function encodeGoaway(lastGoodStreamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastGoodStreamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(status, 4);
  return control(ControlType.GOAWAY, 0, p);
}

export function encodeHeaders(streamId: number, flags: number, headerBlock: Buffer): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  return control(ControlType.HEADERS, flags, Buffer.concat([p, headerBlock]));
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(delta & STREAM_ID_MASK, 4);
  return control(ControlType.WINDOW_UPDATE, 0, p);
}
