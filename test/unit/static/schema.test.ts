// Static pod manifest validation: strict core/v1 Pod schema, one-line errors naming file and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { validatePodManifest, formatPath } from '../../../agent/static/schema.js';
import { ErrorCodes, isCode, type DockerletError } from '../../../lib/errors.js';

const FILE = '/etc/k/web.yaml';

function base(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: {
      containers: [{ name: 'c', image: 'dockerlet/busybox:1.36', ports: [{ containerPort: 8080 }] }],
    },
  };
}

function failure(obj: unknown): DockerletError {
  try {
    validatePodManifest(obj, FILE);
  } catch (err) {
    assert.ok(isCode(err, ErrorCodes.MANIFEST_INVALID), `unexpected error ${String(err)}`);
    const e = err as DockerletError;
    assert.ok(!e.message.includes('\n'), `not one line: ${e.message}`);
    assert.ok(e.message.startsWith(`static pod ${FILE}: `), e.message);
    return e;
  }
  assert.fail('validation passed unexpectedly');
}

function withContainer(patch: Record<string, unknown>): Record<string, unknown> {
  const m = base();
  const spec = m.spec as { containers: Record<string, unknown>[] };
  spec.containers[0] = { ...spec.containers[0], ...patch };
  return m;
}

test('a valid manifest passes and keeps its fields', () => {
  const pod = validatePodManifest(base(), FILE);
  assert.equal(pod.metadata.name, 'web');
  assert.equal(pod.spec.containers[0]?.ports?.[0]?.containerPort, 8080);
  assert.equal(pod.status, undefined);
});

test('the example manifests validate', () => {
  for (const f of ['web.yaml', 'clock.yaml']) {
    const path = new URL(`../../../examples/static/${f}`, import.meta.url);
    const pod = validatePodManifest(parse(readFileSync(path, 'utf8')), f);
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      assert.equal(c.image, 'dockerlet/busybox:1.36');
      assert.equal(c.imagePullPolicy, 'IfNotPresent');
    }
  }
});

test('wrong type names the field path and both types', () => {
  const e = failure(withContainer({ ports: [{ containerPort: '8080' }] }));
  assert.equal(e.message, `static pod ${FILE}: spec.containers[0].ports[0].containerPort: expected number, got string`);
  assert.equal(e.details.path, 'spec.containers[0].ports[0].containerPort');
});

test('unknown enum value is reported with the allowed ones', () => {
  const e = failure(withContainer({ imagePullPolicy: 'Sometimes' }));
  assert.match(e.message, /^static pod \/etc\/k\/web\.yaml: spec\.containers\[0\]\.imagePullPolicy: unknown value "Sometimes" \(expected one of "Always", "IfNotPresent", "Never"\)$/);
});

test('unknown field is rejected (strict objects)', () => {
  const e = failure(withContainer({ imag: 'x' }));
  assert.equal(e.message, `static pod ${FILE}: spec.containers[0].imag: unknown field`);
  const top = failure({ ...base(), extra: 1 });
  assert.equal(top.message, `static pod ${FILE}: extra: unknown field`);
  const vol = base();
  (vol.spec as Record<string, unknown>).volumes = [{ name: 'v', emptyDir: { medum: 'Memory' } }];
  assert.equal(failure(vol).message, `static pod ${FILE}: spec.volumes[0].emptyDir.medum: unknown field`);
});

test('missing required fields and wrong kind', () => {
  const m = base();
  delete (m.spec as Record<string, unknown>).containers;
  assert.equal(failure(m).message, `static pod ${FILE}: spec.containers: required field missing`);
  assert.equal(failure({ ...base(), kind: 'Deployment' }).message, `static pod ${FILE}: kind: expected "Pod", got "Deployment"`);
  assert.equal(failure({ ...base(), apiVersion: 'apps/v1' }).message, `static pod ${FILE}: apiVersion: expected "v1", got "apps/v1"`);
  assert.equal(failure(null).message, `static pod ${FILE}: (root): expected object, got null`);
  const noName = base();
  (noName.metadata as Record<string, unknown>).name = undefined;
  assert.equal(failure(noName).message, `static pod ${FILE}: metadata.name: required field missing`);
  const empty = base();
  (empty.spec as Record<string, unknown>).containers = [];
  assert.equal(failure(empty).message, `static pod ${FILE}: spec.containers: must have at least 1 item(s)`);
});

test('label values must be strings; odd map keys are quoted in the path', () => {
  const m = base();
  (m.metadata as Record<string, unknown>).labels = { 'app.kubernetes.io/version': 1 };
  assert.equal(failure(m).message, `static pod ${FILE}: metadata.labels["app.kubernetes.io/version"]: expected string, got number`);
  assert.equal(formatPath(['spec', 'containers', 0, 'name']), 'spec.containers[0].name');
});

test('int-or-string ports, quantities, ranges', () => {
  assert.equal(failure(withContainer({ livenessProbe: { tcpSocket: { port: true } } })).message,
    `static pod ${FILE}: spec.containers[0].livenessProbe.tcpSocket.port: expected number or string, got boolean`);
  assert.match(failure(withContainer({ resources: { limits: { memory: '12 parsecs' } } })).message,
    /spec\.containers\[0\]\.resources\.limits\.memory: invalid quantity "12 parsecs"$/);
  assert.equal(failure(withContainer({ ports: [{ containerPort: 70000 }] })).message,
    `static pod ${FILE}: spec.containers[0].ports[0].containerPort: must be at most 65535, got 70000`);
  assert.equal(failure(withContainer({ ports: [{ containerPort: 80.5 }] })).message,
    `static pod ${FILE}: spec.containers[0].ports[0].containerPort: expected integer, got non-integer 80.5`);
  const ok = validatePodManifest(withContainer({ resources: { limits: { cpu: '500m', memory: 134217728 } }, readinessProbe: { httpGet: { port: 'http' } } }), FILE);
  assert.equal(ok.spec.containers[0]?.resources?.limits?.memory, 134217728);
});

test('semantic rules: duplicate names, dangling mounts, probe handlers, invalid names', () => {
  const dupe = base();
  (dupe.spec as { containers: unknown[] }).containers.push({ name: 'c', image: 'x:1' });
  assert.equal(failure(dupe).message, `static pod ${FILE}: spec.containers[1].name: duplicate container name "c"`);
  assert.equal(failure(withContainer({ volumeMounts: [{ name: 'nope', mountPath: '/x' }] })).message,
    `static pod ${FILE}: spec.containers[0].volumeMounts[0].name: no volume named "nope" in spec.volumes`);
  assert.equal(failure(withContainer({ livenessProbe: { periodSeconds: 3 } })).message,
    `static pod ${FILE}: spec.containers[0].livenessProbe: must specify a handler (exec, httpGet, tcpSocket or grpc)`);
  const bad = base();
  (bad.metadata as Record<string, unknown>).name = 'Web_1';
  assert.match(failure(bad).message, /metadata\.name: invalid name "Web_1"/);
  const twoSources = base();
  (twoSources.spec as Record<string, unknown>).volumes = [{ name: 'v', emptyDir: {}, hostPath: { path: '/tmp' } }];
  assert.match(failure(twoSources).message, /spec\.volumes\[0\]: may not specify more than one volume type/);
  assert.equal(failure(withContainer({ image: undefined })).message, `static pod ${FILE}: spec.containers[0].image: required field missing`);
});

test('creationTimestamp: null (kubectl output) and status are tolerated', () => {
  const m = base();
  (m.metadata as Record<string, unknown>).creationTimestamp = null;
  m.status = { phase: 'Running' };
  const pod = validatePodManifest(m, FILE);
  assert.equal(pod.metadata.creationTimestamp, undefined);
  assert.equal(pod.status, undefined);
});
