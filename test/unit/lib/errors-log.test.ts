import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import { createLogger } from '../../../lib/log.js';

// An API error's details carry the Kubernetes Status (which has a `message`): pino's err serializer
// treats such an object as error-like and tags it; a frozen one made the agent crash on a dropped Event.
test('an error whose details look like an error (a Status with a message) logs without throwing, secrets redacted', () => {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const log = createLogger({ destination });
  // As kube/errors.ts builds an API error: the Status's reason and message in details.
  const message = 'unable to create new content in namespace e2e because it is being terminated';
  const err = new DockerletError(ErrorCodes.KUBE_API, 'POST events: 403', { details: { status: 403, reason: 'Forbidden', message, method: 'POST', path: '/api/v1/namespaces/e2e/events', token: 'sekret' } });
  assert.doesNotThrow(() => log.warn({ err }, 'could not write event; dropped'));
  assert.doesNotThrow(() => log.warn({ err }, 'twice'));
  const out = lines.join('');
  assert.match(out, /DKL_ERR_KUBE_API/);
  assert.match(out, /being terminated/);
  assert.doesNotMatch(out, /sekret/);
});
