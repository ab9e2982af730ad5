import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  annotationsFromLabels, dockerName, identityFromLabels, Labels, labelsFor, parseDockerName,
} from '../../../runtime/naming.js';
import type { ContainerIdentity } from '../../../runtime/types.js';

const app: ContainerIdentity = {
  podUid: '6f1d8a2e-1234-4c5d-9e0f-abcdef012345',
  podName: 'web-7d9f8',
  podNamespace: 'default',
  containerName: 'nginx',
  kind: 'container',
  attempt: 3,
  restartCount: 2,
  specHash: 'a1b2c3d4',
};
const sandbox: ContainerIdentity = { ...app, containerName: 'POD', kind: 'sandbox', attempt: 0, restartCount: 0, specHash: 'ff00' };

test('dockerName follows dockershim layout', () => {
  assert.equal(dockerName(app), 'k8s_nginx_web-7d9f8_default_6f1d8a2e-1234-4c5d-9e0f-abcdef012345_3');
  assert.equal(dockerName(sandbox), 'k8s_POD_web-7d9f8_default_6f1d8a2e-1234-4c5d-9e0f-abcdef012345_0');
  // the sandbox is always named POD, whatever containerName says
  assert.equal(dockerName({ ...sandbox, containerName: 'x' }), dockerName(sandbox));
});

test('parseDockerName inverts dockerName, with or without the leading slash', () => {
  const want = { containerName: 'nginx', podName: 'web-7d9f8', podNamespace: 'default', podUid: app.podUid, attempt: 3 };
  assert.deepEqual(parseDockerName(dockerName(app)), want);
  assert.deepEqual(parseDockerName('/' + dockerName(app)), want);
});

test('parseDockerName rejects foreign names', () => {
  for (const n of ['nginx', 'k8s_a_b_c_d', 'k8s_a_b_c_d_e_f', 'x8s_a_b_c_d_1', 'k8s_a_b_c_d_-1', 'k8s_a_b_c_d_x', 'k8s__b_c_d_1']) {
    assert.equal(parseDockerName(n), undefined, n);
  }
});

test('labels round-trip the identity exactly', () => {
  assert.deepEqual(identityFromLabels(labelsFor(app, {})), app);
  assert.deepEqual(identityFromLabels(labelsFor(sandbox, {})), sandbox);
  const init = { ...app, kind: 'init' as const, containerName: 'setup' };
  assert.deepEqual(identityFromLabels(labelsFor(init, {})), init);
});

test('labelsFor stamps the dockershim labels and docker type', () => {
  const l = labelsFor(app, {});
  assert.equal(l[Labels.podName], 'web-7d9f8');
  assert.equal(l[Labels.podNamespace], 'default');
  assert.equal(l[Labels.podUid], app.podUid);
  assert.equal(l[Labels.containerName], 'nginx');
  assert.equal(l[Labels.dockerType], 'container');
  assert.equal(l['io.dockerlet.kind'], 'container');
  assert.equal(l['io.dockerlet.attempt'], '3');
  assert.equal(l['io.dockerlet.restart-count'], '2');
  assert.equal(l['io.dockerlet.spec-hash'], 'a1b2c3d4');
  const s = labelsFor(sandbox, {});
  assert.equal(s[Labels.dockerType], 'podsandbox');
  assert.equal(s[Labels.containerName], 'POD');
});

test('annotations are stored as annotation.<key> labels and read back', () => {
  const ann = { 'io.kubernetes.container.terminationMessagePath': '/dev/termination-log', 'x/y': 'a=b' };
  const l = labelsFor(app, ann);
  assert.equal(l['annotation.io.kubernetes.container.terminationMessagePath'], '/dev/termination-log');
  assert.deepEqual(annotationsFromLabels(l), ann);
  // an annotation cannot overwrite an identity label
  const evil = labelsFor(app, { [Labels.podUid]: 'other' });
  assert.equal(evil[Labels.podUid], app.podUid);
});

test('identityFromLabels: missing identity is undefined; dockershim-only labels fall back', () => {
  const l = labelsFor(app, {});
  delete l[Labels.podUid];
  assert.equal(identityFromLabels(l), undefined);
  assert.equal(identityFromLabels(undefined), undefined);
  const dockershim = {
    [Labels.podName]: 'p', [Labels.podNamespace]: 'ns', [Labels.podUid]: 'u', [Labels.containerName]: 'POD',
    [Labels.dockerType]: 'podsandbox',
  };
  assert.deepEqual(identityFromLabels(dockershim, { attempt: 4 }), {
    podName: 'p', podNamespace: 'ns', podUid: 'u', containerName: 'POD', kind: 'sandbox', attempt: 4, restartCount: 0, specHash: '',
  });
  // garbage numbers are not trusted
  assert.equal(identityFromLabels({ ...labelsFor(app, {}), 'io.dockerlet.attempt': 'x' })?.attempt, 0);
});
