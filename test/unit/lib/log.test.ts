// The error path into the log: errors logged as { err } keep their code, details, cause and stack
// (pino's err serializer), secrets in details are redacted, and partLogger is the one default-logger rule.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import { createLogger, partLogger, silentLogger } from '../../../lib/log.js';

function capture() {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } }) });
  return { log, lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test('an error logged as { err } keeps its code, details, cause and stack, with secrets in details redacted', async () => {
  const { log, lines } = capture();
  const err = new DockerletError(ErrorCodes.KUBE_API, 'GET /api/v1/x: 404 NotFound', {
    cause: new Error('socket said no'), details: { status: 404, token: 'sekret' },
  });
  log.child({ component: 'test' }).warn({ err }, 'request failed');
  await new Promise((r) => setImmediate(r));
  const [line] = lines();
  const e = line!.err as Record<string, unknown>;
  assert.equal(e.code, 'DKL_ERR_KUBE_API');
  assert.equal((e.details as Record<string, unknown>).status, 404);
  assert.equal((e.details as Record<string, unknown>).token, '[redacted]');
  assert.match(String(e.stack), /^DockerletError: GET \/api\/v1\/x/);
  assert.match(String(e.stack), /caused by: Error: socket said no/);
  assert.equal(line!.component, 'test');
});

test('partLogger: the given logger, else a named child of the root logger (never silent)', () => {
  const given = silentLogger();
  assert.equal(partLogger(given, 'x'), given);
  const fallback = partLogger(undefined, 'informer', { path: '/api/v1/pods' });
  assert.deepEqual(fallback.bindings(), { component: 'informer', path: '/api/v1/pods' });
  assert.notEqual(fallback.level, 'silent');
});
