import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap, Container, Pod, Secret } from '../../../kube/api.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { expand, mappingFor } from '../../../agent/containers/expansion.js';
import { resolveEnv, type EnvNode, type EnvSources } from '../../../agent/containers/env.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function sources(cms: Record<string, ConfigMap['data']>, secrets: Record<string, Record<string, string>> = {}, extra: Partial<EnvSources> = {}) {
  const calls: string[] = [];
  const src: EnvSources = {
    async configMap(ns, name) {
      calls.push(`cm:${ns}/${name}`);
      const data = cms[name];
      return data === undefined ? undefined : { metadata: { name, namespace: ns }, data };
    },
    async secret(ns, name) {
      calls.push(`secret:${ns}/${name}`);
      const data = secrets[name];
      return data === undefined ? undefined : ({ metadata: { name, namespace: ns }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) } satisfies Secret);
    },
    ...extra,
  };
  return { src, calls };
}

const node: EnvNode = { nodeName: 'node-1', hostIP: '10.0.0.5', capacity: { cpuMillis: 4000, memoryBytes: 8 * 1024 ** 3 } };

function pod(c: Container, extra: Partial<Pod> = {}): Pod {
  return {
    metadata: { name: 'web-0', namespace: 'shop', uid: 'uid-123', labels: { app: 'web', tier: 'fe' }, annotations: { 'a/b': 'x' } },
    spec: { containers: [c], serviceAccountName: 'runner' },
    ...extra,
  };
}

const asMap = (env: { name: string; value: string }[]) => Object.fromEntries(env.map((e) => [e.name, e.value]));

test('expansion follows the upstream rules', () => {
  const m = mappingFor(new Map([['VAR_A', 'A'], ['VAR_B', 'B'], ['EMPTY', '']]));
  const cases: [string, string][] = [
    ['$(VAR_A)', 'A'], ['___$(VAR_B)___', '___B___'], ['$(VAR_A)-$(VAR_B)', 'A-B'], ['$$(VAR_A)', '$(VAR_A)'],
    ['$$$(VAR_A)', '$A'], ['$$$$(VAR_A)', '$$(VAR_A)'], ['$(VAR_DNE)', '$(VAR_DNE)'], ['$(', '$('], ['$)', '$)'], ['$', '$'],
    ['$$', '$'], ['$(VAR_A', '$(VAR_A'], ['$(VAR_A)$$', 'A$'], ['f$oo', 'f$oo'], ['$()', '$()'], ['x$(EMPTY)y', 'xy'],
    ['$(VAR_A)$(VAR_A)', 'AA'], ['no refs', 'no refs'], ['$(VAR_A)$', 'A$'],
  ];
  for (const [input, want] of cases) assert.equal(expand(input, m), want, input);
});

test('env values expand earlier vars, envFrom vars and service vars, not later ones', async () => {
  const { src } = sources({ cm: { FROM_CM: 'cmval' } }, {}, { serviceEnv: async () => ({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }) });
  const c: Container = {
    name: 'c',
    envFrom: [{ configMapRef: { name: 'cm' } }],
    env: [
      { name: 'A', value: 'a' },
      { name: 'B', value: '$(A)-$(FROM_CM)-$(LATER)-$(KUBERNETES_SERVICE_HOST)' },
      { name: 'LATER', value: 'l' },
      { name: 'ESC', value: '$$(A)' },
    ],
  };
  const env = await resolveEnv(pod(c), c, src, node);
  const m = asMap(env);
  assert.equal(m.B, 'a-cmval-$(LATER)-10.96.0.1');
  assert.equal(m.ESC, '$(A)');
  assert.equal(m.KUBERNETES_SERVICE_HOST, '10.96.0.1');
  // envFrom first, then env in declared order, then remaining service vars
  assert.deepEqual(env.map((e) => e.name), ['FROM_CM', 'A', 'B', 'LATER', 'ESC', 'KUBERNETES_SERVICE_HOST']);
});

test('envFrom: prefix, secret decoding, later sources and env override, invalid keys skipped', async () => {
  const warnings: string[] = [];
  const { src, calls } = sources(
    { one: { X: '1', 'bad=key': 'no', Y: 'y1' }, two: { Y: 'y2' } },
    { s: { PASSWORD: 'hunter2' } },
    { onInvalidKeys: (m) => warnings.push(m) },
  );
  const c: Container = {
    name: 'c',
    envFrom: [{ configMapRef: { name: 'one' } }, { configMapRef: { name: 'two' }, prefix: 'P_' }, { configMapRef: { name: 'two' } }, { secretRef: { name: 's' } }],
    env: [{ name: 'X', value: 'override' }, { name: 'FROM_KEY', valueFrom: { configMapKeyRef: { name: 'one', key: 'Y' } } }],
  };
  const m = asMap(await resolveEnv(pod(c), c, src, node));
  assert.deepEqual(m, { X: 'override', Y: 'y2', P_Y: 'y2', PASSWORD: 'hunter2', FROM_KEY: 'y1' });
  assert.deepEqual(warnings, ['Keys [bad=key] from the EnvFrom configMap shop/one were skipped since they are considered invalid environment variable names.']);
  assert.equal(calls.filter((x) => x === 'cm:shop/two').length, 1, 'each object fetched once');
  assert.equal(calls.filter((x) => x === 'cm:shop/one').length, 1);
});

test('optional sources that are missing are skipped', async () => {
  const { src } = sources({ cm: { K: 'v' } });
  const c: Container = {
    name: 'c',
    envFrom: [{ configMapRef: { name: 'nope', optional: true } }, { secretRef: { name: 'nope', optional: true } }],
    env: [
      { name: 'A', valueFrom: { configMapKeyRef: { name: 'cm', key: 'MISSING', optional: true } } },
      { name: 'B', valueFrom: { configMapKeyRef: { name: 'gone', key: 'K', optional: true } } },
      { name: 'C', valueFrom: { secretKeyRef: { name: 'gone', key: 'K', optional: true } } },
      { name: 'D', valueFrom: { configMapKeyRef: { name: 'cm', key: 'K' } } },
    ],
  };
  assert.deepEqual(await resolveEnv(pod(c), c, src, node), [{ name: 'D', value: 'v' }]);
});

test('missing non-optional sources fail with the upstream messages as CONTAINER_CONFIG', async () => {
  const { src } = sources({ cm: { K: 'v' } }, { s: { K: 'secret-value' } });
  const cases: [Container, string][] = [
    [{ name: 'c', env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'cm', key: 'FOO' } } }] }, "couldn't find key FOO in ConfigMap shop/cm"],
    [{ name: 'c', env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'nope', key: 'FOO' } } }] }, 'configmap "nope" not found'],
    [{ name: 'c', envFrom: [{ configMapRef: { name: 'nope' } }] }, 'configmap "nope" not found'],
    [{ name: 'c', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'BAR' } } }] }, "couldn't find key BAR in Secret shop/s"],
    [{ name: 'c', envFrom: [{ secretRef: { name: 'x' } }] }, 'secret "x" not found'],
  ];
  for (const [c, msg] of cases) {
    await assert.rejects(resolveEnv(pod(c), c, src, node), (err: Error) => {
      assert.ok(isCode(err, ErrorCodes.CONTAINER_CONFIG));
      assert.equal(err.message, msg);
      assert.ok(!err.message.includes('secret-value'));
      return true;
    });
  }
});

test('fetch failures other than not-found surface as CONTAINER_CONFIG with the cause kept', async () => {
  const boom = new Error('connection refused');
  const src: EnvSources = { configMap: async () => { throw boom; }, secret: async () => undefined };
  const c: Container = { name: 'c', envFrom: [{ configMapRef: { name: 'cm', optional: true } }] };
  await assert.rejects(resolveEnv(pod(c), c, src, node), (err: Error) => isCode(err, ErrorCodes.CONTAINER_CONFIG) && err.cause === boom);
});

test('fieldRef values', async () => {
  const { src } = sources({});
  const f = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } });
  const c: Container = {
    name: 'c',
    env: [
      f('NAME', 'metadata.name'), f('NS', 'metadata.namespace'), f('UID', 'metadata.uid'), f('APP', "metadata.labels['app']"),
      f('ANN', "metadata.annotations['a/b']"), f('NOLABEL', "metadata.labels['nope']"), f('NODE', 'spec.nodeName'),
      f('SA', 'spec.serviceAccountName'), f('HOST', 'status.hostIP'), f('HOSTS', 'status.hostIPs'), f('PODIP', 'status.podIP'),
      f('PODIPS', 'status.podIPs'),
    ],
  };
  const m = asMap(await resolveEnv(pod(c), c, src, { ...node, hostIPs: ['10.0.0.5', 'fd00::5'], podIPs: ['172.17.0.3', 'fd01::3'] }));
  assert.deepEqual(m, {
    NAME: 'web-0', NS: 'shop', UID: 'uid-123', APP: 'web', ANN: 'x', NOLABEL: '', NODE: 'node-1', SA: 'runner',
    HOST: '10.0.0.5', HOSTS: '10.0.0.5,fd00::5', PODIP: '172.17.0.3', PODIPS: '172.17.0.3,fd01::3',
  });
  const m2 = asMap(await resolveEnv(pod(c, { status: { podIP: '172.17.0.9' } }), c, src, node));
  assert.equal(m2.PODIP, '172.17.0.9', 'falls back to pod status');
  assert.equal(m2.HOSTS, '10.0.0.5');
  const bad: Container = { name: 'c', env: [f('X', 'spec.bogus')] };
  await assert.rejects(resolveEnv(pod(bad), bad, src, node), /unsupported fieldPath: spec.bogus/);
});

test('resourceFieldRef: divisor, rounding up, limits default to node allocatable', async () => {
  const { src } = sources({});
  const r = (name: string, resource: string, divisor?: string, containerName?: string) =>
    ({ name, valueFrom: { resourceFieldRef: { resource, divisor, containerName } } });
  const c: Container = {
    name: 'c',
    resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    env: [
      r('CPU_REQ', 'requests.cpu'), r('CPU_REQ_M', 'requests.cpu', '1m'), r('CPU_LIM', 'limits.cpu'), r('CPU_LIM_M', 'limits.cpu', '1m'),
      r('MEM_LIM', 'limits.memory'), r('MEM_LIM_MI', 'limits.memory', '1Mi'), r('MEM_REQ_GI', 'requests.memory', '1Gi'),
      r('OTHER_MEM', 'limits.memory', '1Mi', 'side'),
    ],
  };
  const p = pod(c);
  p.spec.containers.push({ name: 'side', resources: { limits: { memory: '32Mi' } } });
  const m = asMap(await resolveEnv(p, c, src, node));
  assert.deepEqual(m, {
    CPU_REQ: '1', CPU_REQ_M: '250', CPU_LIM: '4', CPU_LIM_M: '4000', MEM_LIM: String(128 * 1024 * 1024), MEM_LIM_MI: '128',
    MEM_REQ_GI: '1', OTHER_MEM: '32',
  });
  const memDefault: Container = { name: 'c', env: [r('M', 'limits.memory')] };
  assert.equal(asMap(await resolveEnv(pod(memDefault), memDefault, src, node)).M, String(8 * 1024 ** 3));
  const bad: Container = { name: 'c', env: [r('X', 'limits.gpu')] };
  await assert.rejects(resolveEnv(pod(bad), bad, src, node), /unsupported container resource : limits.gpu/);
});
