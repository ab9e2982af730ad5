// Streaming paths and options as the kubelet parses them, the port header rule of port forwarding, and
// the resize stream parser (concatenated JSON objects, as Go's json.Decoder reads them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { readResizes } from '../../../agent/server/streaming/bridge.js';
import { parseCommandQuery, parsePortsQuery, parseStreamingPath } from '../../../agent/server/streaming/paths.js';
import { parsePort } from '../../../agent/server/streaming/portforward.js';
import { protocolVersion } from '../../../agent/server/streaming/remotecommand.js';

test('streaming paths with and without the pod uid', () => {
  assert.deepEqual(parseStreamingPath('/exec/ns/pod/c'), { verb: 'exec', namespace: 'ns', pod: 'pod', container: 'c' });
  assert.deepEqual(parseStreamingPath('/attach/ns/pod/uid-1/c'), { verb: 'attach', namespace: 'ns', pod: 'pod', uid: 'uid-1', container: 'c' });
  assert.deepEqual(parseStreamingPath('/portForward/ns/pod'), { verb: 'portForward', namespace: 'ns', pod: 'pod' });
  assert.deepEqual(parseStreamingPath('/portForward/ns/pod/u'), { verb: 'portForward', namespace: 'ns', pod: 'pod', uid: 'u' });
  assert.deepEqual(parseStreamingPath('/run/ns/pod/c/'), { verb: 'run', namespace: 'ns', pod: 'pod', container: 'c' });
  assert.equal(parseStreamingPath('/containerLogs/ns/pod/c'), undefined);
  assert.equal(parseStreamingPath('/stats/summary'), undefined);
});

test('malformed streaming paths are errors, not lookups', () => {
  for (const p of ['/exec/ns/pod', '/exec/ns/../c', '/exec/ns/pod/a/b/c', '/exec/ns//c', '/exec/ns/pod/%2e%2e', '/exec/ns/pod/%zz', '/portForward/ns', '/exec/ns/p%2Fx/c']) {
    assert.equal(typeof parseStreamingPath(p), 'string', p);
  }
});

test('exec options: "1" flags, a TTY drops stderr, one stream and a command required', () => {
  const q = (s: string) => new URLSearchParams(s);
  assert.deepEqual(parseCommandQuery(q('command=sh&command=-c&command=exit 3&output=1&error=1'), 'exec'), {
    opts: { stdin: false, stdout: true, stderr: true, tty: false }, cmd: ['sh', '-c', 'exit 3'],
  });
  assert.deepEqual(parseCommandQuery(q('command=sh&input=1&output=1&error=1&tty=1'), 'exec'), {
    opts: { stdin: true, stdout: true, stderr: false, tty: true }, cmd: ['sh'],
  });
  assert.match(String(parseCommandQuery(q('command=sh'), 'exec')), /at least 1 of stdin, stdout, stderr/);
  assert.match(String(parseCommandQuery(q('output=1'), 'exec')), /command/);
  assert.deepEqual(parseCommandQuery(q('input=1&output=0'), 'attach'), { opts: { stdin: true, stdout: false, stderr: false, tty: false }, cmd: [] });
});

test('port header and port query rules', () => {
  assert.equal(parsePort('8080'), 8080);
  assert.match(String(parsePort('0')), /must be greater than 0/);
  assert.match(String(parsePort('65536')), /unable to parse/);
  assert.match(String(parsePort('http')), /unable to parse/);
  assert.match(String(parsePort(undefined)), /must be specified/);
  assert.deepEqual(parsePortsQuery(new URLSearchParams('port=80&port=443,8080')), [80, 443, 8080]);
  assert.match(String(parsePortsQuery(new URLSearchParams(''))), /required/);
  assert.match(String(parsePortsQuery(new URLSearchParams('port=x'))), /unable to parse/);
});

test('protocol versions', () => {
  assert.equal(protocolVersion('v4.channel.k8s.io'), 4);
  assert.equal(protocolVersion('v2.channel.k8s.io'), 2);
  assert.equal(protocolVersion('channel.k8s.io'), 1);
});

test('resize messages: concatenated JSON objects however split, junk skipped', async () => {
  const src = new PassThrough();
  const sizes: { width: number; height: number }[] = [];
  readResizes(src, (s) => sizes.push(s));
  src.write('{"Width":80,"He');
  src.write('ight":24}\n{"Width":120,"Height":40}{"Width":"x","Height":1}');
  src.write('{"Width":70000,"Height":1}not json}{"Width":1,"Height":2}');
  src.end();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sizes, [{ width: 80, height: 24 }, { width: 120, height: 40 }, { width: 1, height: 2 }]);
});
