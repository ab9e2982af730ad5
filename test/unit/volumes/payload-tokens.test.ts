import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../../kube/api.js';
import { DockerletError, ErrorCodes, isCode } from '../../../lib/errors.js';
import type { KubeClient } from '../../../kube/types.js';
import { configMapPayload, downwardApiPayload, secretPayload } from '../../../agent/volumes/payload.js';
import { refreshAt, requestToken, requiresRefresh, type IssuedToken } from '../../../agent/volumes/tokens.js';

const text = (p: Map<string, { data: Buffer; mode: number }>) =>
  Object.fromEntries([...p].map(([k, v]) => [k, `${v.data.toString()}@${v.mode.toString(8)}`]));

test('configMap payload: all keys (data + binaryData) or the listed items', () => {
  const cm = { metadata: { name: 'cm' }, data: { a: 'A', b: 'B' }, binaryData: { bin: Buffer.from('BIN').toString('base64') } };
  assert.deepEqual(text(configMapPayload(cm, undefined, 0o644, false)), { a: 'A@644', b: 'B@644', bin: 'BIN@644' });
  assert.deepEqual(text(configMapPayload(cm, [{ key: 'a', path: 'dir/x' }, { key: 'bin', path: 'y', mode: 0o600 }], 0o644, false)), { 'dir/x': 'A@644', y: 'BIN@600' });
  assert.throws(() => configMapPayload(cm, [{ key: 'zz', path: 'z' }], 0o644, false), (e: Error) => isCode(e, ErrorCodes.VOLUME) && (e as DockerletError).details.reason === 'payload' && e.message === 'configmap references non-existent config key: zz');
  assert.deepEqual(text(configMapPayload(cm, [{ key: 'zz', path: 'z' }, { key: 'a', path: 'a' }], 0o644, true)), { a: 'A@644' });
});

test('secret payload decodes base64', () => {
  const s = { metadata: { name: 's' }, data: { 'tls.crt': Buffer.from('CERT').toString('base64') } };
  assert.deepEqual(text(secretPayload(s, undefined, 0o400, false)), { 'tls.crt': 'CERT@400' });
  assert.throws(() => secretPayload(s, [{ key: 'nope', path: 'n' }], 0o644, false), /references non-existent secret key: nope/);
});

test('downwardAPI payload', () => {
  const pod: Pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u', labels: { b: '2', a: 'x"y' } },
    spec: { containers: [{ name: 'c', resources: { limits: { memory: '64Mi' } } }] },
  };
  const p = downwardApiPayload(pod, [
    { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
    { path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' }, mode: 0o600 },
    { path: 'mem', resourceFieldRef: { containerName: 'c', resource: 'limits.memory', divisor: '1Mi' } },
    { path: 'cpu', resourceFieldRef: { containerName: 'c', resource: 'limits.cpu', divisor: '1m' } },
  ], 0o644, { cpuMillis: 2000, memoryBytes: 1 << 30 });
  assert.deepEqual(text(p), { labels: 'a="x\\"y"\nb="2"@644', ns: 'ns@600', mem: '64@644', cpu: '2000@644' });
});

test('token refresh at 80% of the TTL, or after 24 h', () => {
  const t: IssuedToken = { token: 't', expiresAt: 1_000_000 + 3600_000, ttlSeconds: 3600, key: 'k' };
  assert.equal(refreshAt(t), 1_000_000 + 2880_000);
  assert.equal(requiresRefresh(t, 1_000_000 + 2879_999), false);
  assert.equal(requiresRefresh(t, 1_000_000 + 2880_000), true);
  const long: IssuedToken = { token: 't', expiresAt: 48 * 3600_000, ttlSeconds: 48 * 3600, key: 'k' };
  assert.equal(refreshAt(long), 24 * 3600_000);
});

test('a token request the node authorizer refuses for a pod its graph does not know yet is asked again; other refusals fail at once', async () => {
  const pod: Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u1' }, spec: { containers: [{ name: 'c' }] } };
  const lag = new DockerletError(ErrorCodes.KUBE_API, 'POST …/token: 403 Forbidden: serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node', { details: { status: 403 } });
  let calls = 0;
  const answer = (failures: number, err: Error) => ({
    create: async <T>(): Promise<T> => {
      calls++;
      if (calls <= failures) throw err;
      return { spec: { expirationSeconds: 3607 }, status: { token: 'tok', expirationTimestamp: new Date(Date.now() + 3_600_000).toISOString() } } as T;
    },
  }) as unknown as KubeClient;
  const t = await requestToken(answer(2, lag), pod, {}, [1, 1, 1]);
  assert.equal(t.token, 'tok');
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(requestToken(answer(5, lag), pod, {}, [1, 1]), /different node/);
  assert.equal(calls, 3, 'gives up after the delays');
  calls = 0;
  // The graph has no path from the node to the pod's service account yet (seen under load in bench/pod-startup).
  const noPath = new DockerletError(ErrorCodes.KUBE_API, 'POST …/token: 403 Forbidden: serviceaccounts "default" is forbidden: User "system:node:n" cannot create resource "serviceaccounts/token" in API group "" in the namespace "ns": no relationship found between node \'n\' and this object', { details: { status: 403 } });
  assert.equal((await requestToken(answer(1, noPath), pod, {}, [1, 1])).token, 'tok');
  assert.equal(calls, 2, 'asked again once the graph knows the pod');
  calls = 0;
  const denied = new DockerletError(ErrorCodes.KUBE_API, 'POST …/token: 403 Forbidden: no RBAC', { details: { status: 403 } });
  await assert.rejects(requestToken(answer(1, denied), pod, {}, [1, 1]), /no RBAC/);
  assert.equal(calls, 1, 'any other refusal is not asked again');
});
