// SPDY/3 header blocks (draft-mbelshe-httpbis-spdy-00 §2.6.10): a name/value block (u32 count, then
// u32-length-prefixed names and values; several values NUL-joined; names lower-case) compressed with
// one zlib context per direction per connection, primed with the SPDY/3 dictionary, each block ending
// on a sync flush. Inbound blocks must be inflated in order through the same context (moby/spdystream
// spdy/read.go); outbound blocks are written as stored (uncompressed) deflate blocks, which any
// inflater accepts and which keeps writing synchronous.
import { constants, createInflate, type Inflate } from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { isSpdyProtocolError, spdyProtocolError } from './frames.js';

/** Header names (lower-case) to their values; a name repeated or NUL-joined has several. */
export type HeaderMap = Record<string, string[]>;

/** Largest inflated header block accepted from a peer. */
export const MAX_HEADER_BLOCK = 64 * 1024;

export function encodeNameValues(headers: Record<string, string | string[]>): Buffer {
  const names = Object.keys(headers);
  const parts: Buffer[] = [u32(names.length)];
  for (const name of names) {
    const v = headers[name]!;
    const value = Buffer.from(Array.isArray(v) ? v.join('\0') : v, 'utf8');
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    parts.push(u32(n.length), n, u32(value.length), value);
  }
  return Buffer.concat(parts);
}

export function decodeNameValues(block: Buffer): HeaderMap {
  let off = 0;
  const read = (what: string): Buffer => {
    if (block.length - off < 4) throw spdyProtocolError(`header block truncated reading ${what}`);
    const len = block.readUInt32BE(off);
    off += 4;
    if (block.length - off < len) throw spdyProtocolError(`header block truncated reading ${what}`);
    const out = block.subarray(off, off + len);
    off += len;
    return out;
  };
  if (block.length < 4) throw spdyProtocolError('header block truncated');
  const count = block.readUInt32BE(0);
  off = 4;
  const out: HeaderMap = Object.create(null) as HeaderMap;
  for (let i = 0; i < count; i++) {
    const name = read('a name').toString('utf8');
    if (name.length === 0) throw spdyProtocolError('empty header name');
    if (name !== name.toLowerCase()) throw spdyProtocolError(`header name ${JSON.stringify(name)} is not lower-case`);
    const values = read('a value').toString('utf8').split('\0');
    (out[name] ??= []).push(...values);
  }
  if (off !== block.length) throw spdyProtocolError('trailing bytes after the header block');
  return out;
}

/** A non-final stored deflate block: BFINAL=0 BTYPE=00 (byte aligned), LEN, NLEN, the bytes. */
function storedBlock(piece: Buffer): Buffer[] {
  const head = Buffer.alloc(5);
  head.writeUInt16LE(piece.length, 1);
  head.writeUInt16LE(~piece.length & 0xffff, 3);
  return [head, piece];
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/**
 * The outbound compressor: stored deflate blocks inside one zlib stream (RFC 1950 header 78 01 on the
 * first block, no FDICT: Go's zlib.NewReaderDict accepts that), each header block closed by an empty
 * stored block (00 00 00 FF FF, what a Z_SYNC_FLUSH writes). The empty block matters: Go's flate
 * reader hands out a stored block's bytes only when the next block starts, so without it the peer
 * would read past the frame and its shared decompressor would fail on the next header block.
 * Never emits a final block.
 */
export class HeaderDeflater {
  private started = false;

  compress(raw: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      parts.push(Buffer.from([0x78, 0x01]));
      this.started = true;
    }
    for (let off = 0; off < raw.length; off += 0xffff) parts.push(...storedBlock(raw.subarray(off, off + 0xffff)));
    parts.push(...storedBlock(Buffer.alloc(0)));
    return Buffer.concat(parts);
  }

  encode(headers: Record<string, string | string[]>): Buffer {
    return this.compress(encodeNameValues(headers));
  }
}

/**
 * The inbound decompressor: one inflate context for the connection. inflate() calls are served in
 * order (a chained promise), each ending with a sync flush that yields exactly that block's bytes.
 */
export class HeaderInflater {
  private z: Inflate | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private failed: Error | undefined;

  inflate(block: Buffer): Promise<Buffer> {
    const run = this.chain.then(() => this.run(block));
    this.chain = run.catch(() => {});
    return run;
  }

  async decode(block: Buffer): Promise<HeaderMap> {
    return decodeNameValues(await this.inflate(block));
  }

  close(): void {
    this.z?.close();
    this.z = undefined;
  }

  private run(block: Buffer): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    const z = (this.z ??= createInflate({ dictionary: SPDY3_DICTIONARY }));
    return new Promise<Buffer>((resolve, reject) => {
      const out: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        z.off('data', onData);
        z.off('error', onError);
        if (err) {
          this.failed = isSpdyProtocolError(err) ? err : spdyProtocolError(`header block: ${err.message}`, err);
          reject(this.failed);
        } else resolve(Buffer.concat(out));
      };
      const onData = (c: Buffer) => {
        size += c.length;
        if (size > MAX_HEADER_BLOCK) return finish(spdyProtocolError('header block too large'));
        out.push(c);
      };
      const onError = (err: Error) => finish(err);
      z.on('data', onData);
      z.on('error', onError);
      z.write(block);
      z.flush(constants.Z_SYNC_FLUSH, () => finish());
    });
  }
}
