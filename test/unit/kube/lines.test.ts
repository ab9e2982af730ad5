import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter } from '../../../kube/lines.js';

function collect(): { lines: string[]; s: LineSplitter } {
  const lines: string[] = [];
  return { lines, s: new LineSplitter((l) => lines.push(l)) };
}

test('splits lines across chunk boundaries and keeps a partial line until it completes', () => {
  const { lines, s } = collect();
  s.push(Buffer.from('{"type":"ADDED"}\n{"type":"MOD'));
  assert.deepEqual(lines, ['{"type":"ADDED"}']);
  assert.ok(s.pending > 0);
  s.push(Buffer.from('IFIED"}\n\n{"a":1}\r\n{"b":'));
  assert.deepEqual(lines, ['{"type":"ADDED"}', '{"type":"MODIFIED"}', '{"a":1}']);
  s.push(Buffer.from('2}'));
  s.end();
  assert.deepEqual(lines, ['{"type":"ADDED"}', '{"type":"MODIFIED"}', '{"a":1}', '{"b":2}']);
  assert.equal(s.pending, 0);
});

test('a multi-byte UTF-8 character split between chunks is decoded intact', () => {
  const { lines, s } = collect();
  const bytes = Buffer.from('{"name":"café ☃"}\n', 'utf8');
  const cut = bytes.indexOf(0xe2) + 1; // inside the 3-byte snowman
  s.push(bytes.subarray(0, cut));
  s.push(bytes.subarray(cut));
  assert.deepEqual(lines, ['{"name":"café ☃"}']);
});

test('many lines in one chunk, one byte at a time', () => {
  const { lines, s } = collect();
  const text = Array.from({ length: 50 }, (_, i) => `{"i":${i}}`).join('\n') + '\n';
  s.push(Buffer.from(text));
  assert.equal(lines.length, 50);
  const b = collect();
  for (const byte of Buffer.from(text)) b.s.push(Buffer.from([byte]));
  assert.deepEqual(b.lines, lines);
});
