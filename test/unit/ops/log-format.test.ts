// Readable log lines: a real pino logger writing through TextLogStream gives one line per record with
// the component, pod and container up front, other fields as key=value, secrets still redacted, an
// error's code and message (and its stack at error level); 'auto' picks text only on a terminal.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { formatRecord, resolveLogFormat, TextLogStream } from '../../../cli/log-format.js';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import { createLogger } from '../../../lib/log.js';

function sink() {
  let text = '';
  return { out: new Writable({ write(c, _e, cb) { text += String(c); cb(); } }), text: () => text };
}

const flush = () => new Promise((r) => setImmediate(r));

test('records become readable lines with pod and container first', async () => {
  const s = sink();
  const log = createLogger({ level: 'info', destination: new TextLogStream(s.out, false) });
  log.child({ component: 'pod-worker' }).info({ pod: 'default/web-1', container: 'nginx', restartCount: 2, reason: 'Back off' }, 'container started');
  log.child({ component: 'kube-client' }).warn({ token: 'sekret', path: '/api/v1/pods' }, 'request failed');
  log.debug('not shown at info');
  await flush();
  const lines = s.text().trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[pod-worker\] pod=default\/web-1 container=nginx container started restartCount=2 reason="Back off"$/);
  assert.match(lines[1]!, /WARN {2}\[kube-client\] request failed token=\[redacted\] path=\/api\/v1\/pods$/);
  assert.ok(!s.text().includes('sekret'));
  assert.ok(!s.text().includes('"level"'), 'no JSON left');
});

test('errors show code and message; at error level their stack follows, indented', async () => {
  const s = sink();
  const log = createLogger({ level: 'info', destination: new TextLogStream(s.out, false) });
  const err = new DockerletError(ErrorCodes.RUNTIME, 'docker said no');
  log.warn({ err, pod: 'ns/p' }, 'sync failed');
  log.error({ err }, 'gave up');
  await flush();
  const [warn, ...rest] = s.text().trimEnd().split('\n');
  assert.match(warn!, /WARN {2}pod=ns\/p sync failed err="DKL_ERR_RUNTIME: docker said no"$/);
  assert.match(rest[0]!, /ERROR gave up err="DKL_ERR_RUNTIME: docker said no"$/);
  assert.match(rest[1]!, /^ {4}at /);
});

test('a chunk split mid-line is joined; a line that is not JSON passes through', () => {
  const s = sink();
  const t = new TextLogStream(s.out, false);
  t.write('{"level":30,"time":"2030-01-01T10:00:00.000Z","msg":"he');
  t.write('llo"}\nplain text\n');
  assert.equal(s.text(), '10:00:00.000 INFO  hello\nplain text\n');
  assert.match(formatRecord('{"level":50,"msg":"x"}', true), new RegExp(`${String.fromCharCode(27)}\\[31mERROR${String.fromCharCode(27)}\\[0m x`));
});

test('--log-format: auto is text on a terminal and JSON otherwise; other values are refused', () => {
  assert.equal(resolveLogFormat(undefined, true), 'text');
  assert.equal(resolveLogFormat(undefined, false), 'json');
  assert.equal(resolveLogFormat('auto', undefined), 'json');
  assert.equal(resolveLogFormat('json', true), 'json');
  assert.equal(resolveLogFormat('text', false), 'text');
  assert.throws(() => resolveLogFormat('yaml', true), /--log-format: expected json, text or auto, got "yaml"/);
});
