// SPDY/3 header blocks: the dictionary is the one peers use (length and zlib DICTID), blocks from a
// dictionary-primed deflater (Go's writer) inflate in order through one context, and the stored-block
// writer's output inflates with any zlib reader, each block ending on a sync-flush marker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createDeflate, deflateSync, inflateSync, type Deflate } from 'node:zlib';
import { SPDY3_DICTIONARY } from '../../../agent/server/streaming/spdy/dictionary.js';
import { SpdyProtocolError } from '../../../agent/server/streaming/spdy/frames.js';
import { decodeNameValues, encodeNameValues, HeaderDeflater, HeaderInflater } from '../../../agent/server/streaming/spdy/headers.js';

function flushBlock(z: Deflate, raw: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const on = (c: Buffer) => out.push(c);
    z.on('data', on);
    z.write(raw);
    z.flush(constants.Z_SYNC_FLUSH, () => {
      z.off('data', on);
      resolve(Buffer.concat(out));
    });
  });
}

test('the dictionary is the SPDY/3 one: 1423 bytes, zlib DICTID e3c6a7c2 (what kubectl sends)', () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  const z = deflateSync(Buffer.from('x'), { dictionary: SPDY3_DICTIONARY });
  assert.equal(z.subarray(0, 6).toString('hex'), '78bbe3c6a7c2');
  assert.ok(SPDY3_DICTIONARY.subarray(0, 11).equals(Buffer.from([0, 0, 0, 7, ...Buffer.from('options')])));
  assert.equal(SPDY3_DICTIONARY.subarray(-15).toString('latin1'), '1,utf-,*,enq=0.');
});

test('name/value blocks round-trip, with repeated and NUL-joined values', () => {
  const raw = encodeNameValues({ streamtype: 'error', port: ['80', '443'], requestid: '0' });
  assert.deepEqual({ ...decodeNameValues(raw) }, { streamtype: ['error'], port: ['80', '443'], requestid: ['0'] });
  assert.deepEqual({ ...decodeNameValues(encodeNameValues({})) }, {});
});

test('malformed name/value blocks are protocol errors', () => {
  assert.throws(() => decodeNameValues(Buffer.from([0, 0, 0, 1, 0, 0, 0, 9, 0x61])), SpdyProtocolError);
  assert.throws(() => decodeNameValues(Buffer.from([0, 0])), SpdyProtocolError);
  const upper = encodeNameValues({ a: 'b' });
  upper[8] = 0x41; // 'A'
  assert.throws(() => decodeNameValues(upper), /not lower-case/);
  assert.throws(() => decodeNameValues(Buffer.concat([encodeNameValues({ a: 'b' }), Buffer.from([1])])), /trailing/);
});

test('blocks from one dictionary-primed deflater inflate in order through one context', async () => {
  const z = createDeflate({ dictionary: SPDY3_DICTIONARY });
  const inflater = new HeaderInflater();
  const sets: Record<string, string>[] = [{ streamtype: 'error' }, { streamtype: 'stdin' }, { streamtype: 'stdout' }, { streamtype: 'data', port: '8080', requestid: '7' }];
  const blocks = [];
  for (const h of sets) blocks.push(await flushBlock(z, encodeNameValues(h)));
  // All decodes queued at once must still run in order.
  const decoded = await Promise.all(blocks.map((b) => inflater.decode(b)));
  assert.deepEqual(decoded.map((d) => ({ ...d })), sets.map((h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, [v]]))));
  inflater.close();
  z.close();
});

test('a corrupt block fails the context for good', async () => {
  const inflater = new HeaderInflater();
  await assert.rejects(inflater.decode(Buffer.from([0x78, 0xbb, 1, 2, 3, 4, 5, 6])), SpdyProtocolError);
  await assert.rejects(inflater.decode(Buffer.from([0, 0, 0, 0xff, 0xff])), SpdyProtocolError);
  inflater.close();
});

test('the stored-block writer: zlib header once, a sync-flush marker after every block, inflatable as one stream', () => {
  const d = new HeaderDeflater();
  const a = d.encode({});
  const b = d.encode({ streamtype: 'stdout' });
  const big = d.encode({ x: 'y'.repeat(70_000) });
  assert.equal(a.subarray(0, 2).toString('hex'), '7801');
  assert.notEqual(b.subarray(0, 2).toString('hex'), '7801');
  for (const blk of [a, b, big]) assert.equal(blk.subarray(-5).toString('hex'), '000000ffff');
  const all = inflateSync(Buffer.concat([a, b, big]), { dictionary: SPDY3_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH });
  const first = encodeNameValues({});
  const second = encodeNameValues({ streamtype: 'stdout' });
  assert.deepEqual(all.subarray(0, first.length), first);
  assert.deepEqual(all.subarray(first.length, first.length + second.length), second);
  assert.equal({ ...decodeNameValues(all.subarray(first.length + second.length)) }.x?.[0]?.length, 70_000);
});
