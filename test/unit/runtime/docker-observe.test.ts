import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Dockerode from 'dockerode';
import { changeKey, dockerTime, imageRefFor, normalizeStatus, toObserved } from '../../../runtime/docker/observe.js';
import { labelsFor } from '../../../runtime/naming.js';
import type { ContainerIdentity } from '../../../runtime/types.js';

const id: ContainerIdentity = {
  podUid: 'u1', podName: 'p', podNamespace: 'ns', containerName: 'POD', kind: 'sandbox', attempt: 1, restartCount: 0, specHash: 'h',
};

function inspect(over: { State?: object; Labels?: Record<string, string>; Name?: string; ip?: string }): Dockerode.ContainerInspectInfo {
  return {
    Id: 'abc', Name: over.Name ?? '/k8s_POD_p_ns_u1_1', Created: '2026-01-02T03:04:05.123456789Z', Image: 'sha256:img',
    State: { Status: 'running', Running: true, Pid: 42, ExitCode: 0, Error: '', OOMKilled: false,
      StartedAt: '2026-01-02T03:04:06.5Z', FinishedAt: '0001-01-01T00:00:00Z', ...(over.State ?? {}) },
    Config: { Image: 'registry.k8s.io/pause:3.10', Labels: over.Labels ?? labelsFor(id, { a: 'b' }) },
    NetworkSettings: { Networks: { bridge: { IPAddress: over.ip ?? '172.17.0.5' } } },
  } as unknown as Dockerode.ContainerInspectInfo;
}

test('dockerTime: zero time is undefined, others normalised to RFC 3339', () => {
  assert.equal(dockerTime('0001-01-01T00:00:00Z'), undefined);
  assert.equal(dockerTime(''), undefined);
  assert.equal(dockerTime('2026-01-02T03:04:05.123456789Z'), '2026-01-02T03:04:05.123Z');
});

test('normalizeStatus drops the relative time', () => {
  assert.equal(normalizeStatus('Up 5 seconds'), 'Up');
  assert.equal(normalizeStatus('Up About a minute'), 'Up');
  assert.equal(normalizeStatus('Up Less than a second'), 'Up');
  assert.equal(normalizeStatus('Exited (137) 2 minutes ago'), 'Exited (137)');
  assert.equal(normalizeStatus('Exited (0) About an hour ago'), 'Exited (0)');
  assert.equal(normalizeStatus('Up 3 hours (Paused)'), 'Up (Paused)');
  assert.equal(normalizeStatus('Created'), 'Created');
  assert.equal(changeKey({ State: 'running', Status: 'Up 1 second' }), changeKey({ State: 'running', Status: 'Up 2 minutes' }));
  assert.notEqual(changeKey({ State: 'exited', Status: 'Exited (0) 1 second ago' }), changeKey({ State: 'exited', Status: 'Exited (1) 1 second ago' }));
});

test('imageRefFor prefers a repo digest', () => {
  assert.equal(imageRefFor('sha256:1', ['r@sha256:9']), 'docker-pullable://r@sha256:9');
  assert.equal(imageRefFor('sha256:1', []), 'docker://sha256:1');
});

test('running sandbox maps with ip, pid, annotations and identity', () => {
  const o = toObserved(inspect({}), 'docker://sha256:img')!;
  assert.equal(o.state, 'running');
  assert.equal(o.ip, '172.17.0.5');
  assert.equal(o.pid, 42);
  assert.equal(o.startedAt, '2026-01-02T03:04:06.500Z');
  assert.equal(o.finishedAt, undefined);
  assert.equal(o.exitCode, undefined);
  assert.equal(o.dockerName, 'k8s_POD_p_ns_u1_1');
  assert.deepEqual(o.annotations, { a: 'b' });
  assert.equal(o.image, 'registry.k8s.io/pause:3.10');
  assert.equal(o.createdAt, '2026-01-02T03:04:05.123Z');
  assert.deepEqual({ ...o, id: undefined }, { ...o, ...id, id: undefined });
});

test('exited container maps exit code, finish time, oom and error', () => {
  const o = toObserved(inspect({
    State: { Status: 'exited', Running: false, Pid: 0, ExitCode: 137, OOMKilled: true, Error: 'boom', FinishedAt: '2026-01-02T03:05:00Z' },
  }), 'x')!;
  assert.equal(o.state, 'exited');
  assert.equal(o.exitCode, 137);
  assert.equal(o.oomKilled, true);
  assert.equal(o.error, 'boom');
  assert.equal(o.finishedAt, '2026-01-02T03:05:00.000Z');
  assert.equal(o.pid, undefined);
});

test('finishedAt is never before startedAt (Docker stamps StartedAt late)', () => {
  const o = toObserved(inspect({
    State: { Status: 'exited', StartedAt: '2026-01-02T03:04:06.138Z', FinishedAt: '2026-01-02T03:04:06.137Z', ExitCode: 42 },
  }), 'x')!;
  assert.equal(o.finishedAt, '2026-01-02T03:04:06.138Z');
});

test('a created container has no start time; unknown labels are ignored', () => {
  const o = toObserved(inspect({ State: { Status: 'created', StartedAt: '0001-01-01T00:00:00Z', Pid: 0 } }), 'x')!;
  assert.equal(o.state, 'created');
  assert.equal(o.startedAt, undefined);
  assert.equal(toObserved(inspect({ Labels: { 'io.kubernetes.pod.uid': 'u' }, Name: '/other' }), 'x'), undefined);
});
