import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { codeFor, dockerMessage, isNameConflict, isTransientNetworkError, toDockerletError } from '../../../runtime/docker/errors.js';
import { parseEventLine } from '../../../runtime/docker/events.js';

function modemError(statusCode: number, message: string): Error {
  const e = new Error(`(HTTP code ${statusCode}) unexpected - ${message} `) as Error & { statusCode: number; json: unknown };
  e.statusCode = statusCode;
  e.json = { message };
  return e;
}

test('codes by operation and Docker message', () => {
  assert.equal(codeFor('pull', modemError(400, 'invalid reference format: repository name must be lowercase')), ErrorCodes.INVALID_IMAGE_NAME);
  assert.equal(codeFor('create', modemError(400, 'invalid reference format')), ErrorCodes.INVALID_IMAGE_NAME);
  assert.equal(codeFor('pull', modemError(500, 'Get "http://127.0.0.1:1/v2/": connection refused')), ErrorCodes.IMAGE_PULL);
  assert.equal(codeFor('pull', modemError(404, 'manifest unknown')), ErrorCodes.IMAGE_PULL);
  assert.equal(codeFor('start', modemError(400, 'OCI runtime create failed: exec: "nope": executable file not found in $PATH')), ErrorCodes.RUN_CONTAINER);
  assert.equal(codeFor('start', modemError(404, 'No such container: x')), ErrorCodes.NOT_FOUND);
  assert.equal(codeFor('inspect', modemError(404, 'No such container: x')), ErrorCodes.NOT_FOUND);
  assert.equal(codeFor('create', modemError(400, 'Minimum memory limit allowed is 6MB')), ErrorCodes.CONTAINER_CONFIG);
  const sys = Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT' });
  assert.equal(codeFor('list', sys), ErrorCodes.RUNTIME);
});

test('toDockerletError keeps Docker message, status and cause', () => {
  const cause = modemError(500, 'something broke');
  const e = toDockerletError('stop', cause, { id: 'abc' });
  assert.ok(isCode(e, ErrorCodes.RUNTIME));
  assert.match(e.message, /something broke/);
  assert.equal(e.details.statusCode, 500);
  assert.equal(e.details.id, 'abc');
  assert.equal(e.cause, cause);
  assert.equal(toDockerletError('stop', e), e);
});

test('dockerMessage falls back to the modem message; conflict detection', () => {
  assert.equal(dockerMessage(new Error('(HTTP code 409) unexpected - Conflict. The container name "/x" is already in use ')), 'Conflict. The container name "/x" is already in use');
  assert.equal(isNameConflict(modemError(409, 'Conflict. The container name "/x" is already in use by container "1"')), true);
  assert.equal(isNameConflict(modemError(409, 'removal of container x is already in progress')), false);
});

test('parseEventLine maps container events', () => {
  const line = JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: 'c1', Attributes: { 'io.kubernetes.pod.uid': 'u1', exitCode: '0' } }, timeNano: 1_700_000_000_500_000_000 });
  assert.deepEqual(parseEventLine(line), { id: 'c1', podUid: 'u1', action: 'die', timeSec: 1_700_000_000 });
  assert.equal(parseEventLine(''), undefined);
  assert.equal(parseEventLine('{not json'), undefined);
  assert.equal(parseEventLine(JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'n' } })), undefined);
});

test('the post-restart libnetwork errors are transient; others are not', () => {
  const modem = (message: string) => Object.assign(new Error(`(HTTP code 500) server error - ${message}`), { statusCode: 500, json: { message } });
  const endpoint = modem('endpoint with name k8s_POD_p_ns_u_1 already exists in network bridge');
  assert.equal(isTransientNetworkError(endpoint), true);
  assert.equal(isTransientNetworkError(toDockerletError('start', endpoint)), true);
  assert.equal(isTransientNetworkError(modem('failed to update store for object type *libnetwork.endpoint: open : no such file or directory')), true);
  assert.equal(isTransientNetworkError(modem('No such image: x')), false);
});
