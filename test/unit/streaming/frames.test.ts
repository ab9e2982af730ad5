// SPDY/3.1 framing: every frame type round-trips through the encoders and the incremental parser,
// however the bytes are split; malformed control frames are protocol errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeData, encodeGoaway, encodeHeaders, encodePing, encodeRstStream, encodeSettings, encodeSynReply, encodeSynStream,
  encodeWindowUpdate, FLAG_FIN, FrameParser, SpdyProtocolError, type Frame,
} from '../../../agent/server/streaming/spdy/frames.js';

function all(): { bytes: Buffer; want: Partial<Frame> & { type: Frame['type'] } }[] {
  const block = Buffer.from('header-block-bytes');
  return [
    { bytes: encodeData(3, FLAG_FIN, Buffer.from('hello')), want: { type: 'data', streamId: 3, flags: FLAG_FIN } },
    { bytes: encodeSynStream(5, 0, block, 2, 1), want: { type: 'syn_stream', streamId: 5, assocId: 1, priority: 2, flags: 0 } },
    { bytes: encodeSynReply(7, 0, block), want: { type: 'syn_reply', streamId: 7, flags: 0 } },
    { bytes: encodeRstStream(9, 5), want: { type: 'rst_stream', streamId: 9, status: 5 } },
    { bytes: encodePing(0xfffffffe), want: { type: 'ping', id: 0xfffffffe } },
    { bytes: encodeGoaway(11, 1), want: { type: 'goaway', lastGoodStreamId: 11, status: 1 } },
    { bytes: encodeHeaders(13, FLAG_FIN, block), want: { type: 'headers', streamId: 13, flags: FLAG_FIN } },
    { bytes: encodeWindowUpdate(15, 65536), want: { type: 'window_update', streamId: 15, delta: 65536 } },
  ];
}

test('each frame type round-trips', () => {
  for (const { bytes, want } of all()) {
    const [f, ...rest] = new FrameParser().push(bytes);
    assert.equal(rest.length, 0);
    assert.ok(f);
    for (const [k, v] of Object.entries(want)) assert.deepEqual((f as Record<string, unknown>)[k], v, `${want.type}.${k}`);
  }
});

test('data and header blocks come back byte for byte', () => {
  const payload = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i & 0xff));
  const [d] = new FrameParser().push(encodeData(1, 0, payload));
  assert.ok(d?.type === 'data');
  assert.deepEqual(d.data, payload);
  const block = Buffer.from([0, 1, 2, 3, 255]);
  const [s] = new FrameParser().push(encodeSynStream(1, 0, block));
  assert.ok(s?.type === 'syn_stream');
  assert.deepEqual(s.headerBlock, block);
});

test('SETTINGS entries round-trip', () => {
  const [f] = new FrameParser().push(encodeSettings([{ id: 7, value: 1 << 20 }, { id: 4, flags: 1, value: 100 }]));
  assert.ok(f?.type === 'settings');
  assert.deepEqual(f.entries, [{ flags: 0, id: 7, value: 1 << 20 }, { flags: 1, id: 4, value: 100 }]);
});

test('the parser reassembles frames split at every byte and several frames in one chunk', () => {
  const frames = all();
  const stream = Buffer.concat(frames.map((f) => f.bytes));
  const p = new FrameParser();
  const got: Frame[] = [];
  for (let i = 0; i < stream.length; i++) got.push(...p.push(stream.subarray(i, i + 1)));
  assert.deepEqual(got.map((f) => f.type), frames.map((f) => f.want.type));
  assert.equal(p.pending, 0);
  const once = new FrameParser().push(stream);
  assert.deepEqual(once, got);
});

test('an unknown control type is reported, not fatal', () => {
  const head = Buffer.from([0x80, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x02, 0xab, 0xcd]);
  const [f] = new FrameParser().push(head);
  assert.ok(f?.type === 'unknown');
  assert.equal(f.controlType, 10);
});

test('a wrong version or a truncated control frame is a protocol error', () => {
  const v2 = encodePing(1);
  v2[1] = 2;
  assert.throws(() => new FrameParser().push(v2), SpdyProtocolError);
  const shortRst = Buffer.from([0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1]);
  assert.throws(() => new FrameParser().push(shortRst), /RST_STREAM frame too short/);
  const badSettings = Buffer.from([0x80, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 2]);
  assert.throws(() => new FrameParser().push(badSettings), /SETTINGS length/);
});
