import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container } from '../../../kube/api.js';
import { canonicalJson, containerSpecHash, legacySpecHash, specHashMatches } from '../../../agent/containers/hash.js';

const base: Container = {
  name: 'web',
  image: 'nginx:1.25',
  command: ['sh', '-c'],
  args: ['echo hi'],
  env: [{ name: 'A', value: '1' }],
  ports: [{ containerPort: 80, name: 'http' }],
  resources: { limits: { cpu: '1', memory: '1Gi' } },
  volumeMounts: [{ name: 'data', mountPath: '/data' }],
};

test('hash is 16 hex chars and stable under key order', () => {
  const h = containerSpecHash(base);
  assert.match(h, /^[0-9a-f]{16}$/);
  const reordered: Container = {
    volumeMounts: [{ mountPath: '/data', name: 'data' }],
    resources: { limits: { memory: '1Gi', cpu: '1' } },
    ports: [{ name: 'http', containerPort: 80 }],
    env: [{ value: '1', name: 'A' }],
    args: ['echo hi'],
    command: ['sh', '-c'],
    image: 'nginx:1.25',
    name: 'web',
  };
  assert.equal(containerSpecHash(reordered), h);
});

test('API defaults and empty values do not change the hash', () => {
  const h = containerSpecHash(base);
  assert.equal(containerSpecHash({
    ...base, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
    ports: [{ containerPort: 80, name: 'http', protocol: 'TCP' }], envFrom: [], tty: false, workingDir: '',
  }), h);
});

test('restart-relevant fields change the hash', () => {
  const h = containerSpecHash(base);
  const variants: Partial<Container>[] = [
    { image: 'nginx:1.26' }, { command: ['sh'] }, { args: ['echo bye'] }, { env: [{ name: 'A', value: '2' }] },
    { envFrom: [{ configMapRef: { name: 'cm' } }] }, { workingDir: '/w' }, { ports: [{ containerPort: 81 }] },
    { volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }] },
    { securityContext: { privileged: true } }, { tty: true }, { stdin: true }, { terminationMessagePath: '/tmp/x' },
    { terminationMessagePolicy: 'FallbackToLogsOnError' },
  ];
  for (const v of variants) assert.notEqual(containerSpecHash({ ...base, ...v }), h, JSON.stringify(v));
});

test('fields outside the hashed set (probes, lifecycle, pull policy) leave it alone', () => {
  const h = containerSpecHash(base);
  assert.equal(containerSpecHash({ ...base, imagePullPolicy: 'Always', readinessProbe: { periodSeconds: 3 } }), h);
});

test('canonicalJson keeps array order and primitive elements', () => {
  assert.equal(canonicalJson({ b: [2, '', false], a: { d: undefined, c: 1 } }), '{"a":{"c":1},"b":[2,"",false]}');
});

test('resources are not hashed (in-place resize), as upstream HashContainer', () => {
  const h = containerSpecHash(base);
  assert.equal(containerSpecHash({ ...base, resources: { limits: { cpu: '2', memory: '2Gi' } } }), h);
  assert.equal(containerSpecHash({ ...base, resources: undefined }), h);
  assert.notEqual(legacySpecHash({ ...base, resources: { limits: { cpu: '2', memory: '1Gi' } } }), legacySpecHash(base));
});

test('specHashMatches: the new hash, or the legacy hash of the very spec an older agent created the container from', () => {
  const legacy = legacySpecHash(base); // the label an older dockerlet stamped
  assert.notEqual(legacy, containerSpecHash(base));
  assert.equal(specHashMatches(containerSpecHash(base), containerSpecHash(base), base), true);
  assert.equal(specHashMatches(legacy, containerSpecHash(base), base), true, 'upgrade: the running container is kept');
  const resized = { ...base, resources: { limits: { cpu: '2', memory: '1Gi' } } };
  assert.equal(specHashMatches(legacy, containerSpecHash(resized), resized), false, 'resized legacy container: restarted once');
  const newImage = { ...base, image: 'nginx:1.26' };
  assert.equal(specHashMatches(containerSpecHash(base), containerSpecHash(newImage), newImage), false);
  assert.equal(specHashMatches('', containerSpecHash(base), base), false);
});
