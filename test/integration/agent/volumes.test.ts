// End to end: what the agent mounts into a pod — the projected service-account token (accepted by the
// API server, bound to the pod), ConfigMap and Secret files and their updates, a shared emptyDir.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigMap, Pod } from '../../../kube/api.js';
import { startBed, type Bed } from './bed.js';

const NODE = 'dl-e2e-volumes';
const NS = 'e2e-vol';
const IMAGE = 'dockerlet/busybox:1.36';
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
let bed: Bed | undefined;
const b = () => bed as Bed;
let podUid = '';

const exec = (container: string, ...cmd: string[]) => b().exec(NS, 'vols', container, cmd);

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
  await bed.kubectl(['create', 'configmap', 'app-config', '-n', NS, '--from-literal=greeting=hello', '--from-literal=other=x']);
  await bed.kubectl(['create', 'secret', 'generic', 'app-secret', '-n', NS, '--from-literal=token=abc123']);
  const c = (name: string, script: string, mounts: { name: string; mountPath: string; readOnly?: boolean }[]) =>
    ({ name, image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script], volumeMounts: mounts });
  await bed.apply(JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'vols', namespace: NS },
    spec: {
      terminationGracePeriodSeconds: 2,
      volumes: [
        { name: 'cfg', configMap: { name: 'app-config' } },
        { name: 'sec', secret: { secretName: 'app-secret' } },
        { name: 'shared', emptyDir: {} },
      ],
      containers: [
        c('main', 'exec sleep 3600', [{ name: 'cfg', mountPath: '/etc/cfg' }, { name: 'sec', mountPath: '/etc/sec', readOnly: true }, { name: 'shared', mountPath: '/shared' }]),
        c('writer', 'echo from-writer > /data/msg; exec sleep 3600', [{ name: 'shared', mountPath: '/data' }]),
      ],
    },
  }));
  const p = await bed.waitFor(async () => {
    const p = await bed!.kubectlJson<Pod>(['get', 'pod', 'vols', '-n', NS]);
    return p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).filter((s) => s.ready).length === 2 ? p : undefined;
  }, { what: 'pod vols Running with both containers ready', timeoutMs: 60_000 });
  podUid = p.metadata.uid!;
}, { timeout: 180_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

interface TokenReview {
  status?: { authenticated?: boolean; user?: { username?: string; groups?: string[]; extra?: Record<string, string[]> }; error?: string };
}

test('the mounted service-account token is accepted by the API server and bound to the pod', { timeout: 60_000 }, async () => {
  const token = (await exec('main', 'cat', `${SA_DIR}/token`)).trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT');
  const review = await b().kubectlJson<TokenReview>(['create', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
  });
  assert.equal(review.status?.authenticated, true, `TokenReview: ${JSON.stringify(review.status)}`);
  assert.equal(review.status?.user?.username, `system:serviceaccount:${NS}:default`);
  assert.ok(review.status?.user?.groups?.includes(`system:serviceaccounts:${NS}`));
  assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/pod-name'], ['vols']);
  assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/pod-uid'], [podUid]);

  const rootCa = await b().kubectlJson<ConfigMap>(['get', 'configmap', 'kube-root-ca.crt', '-n', NS]);
  const ca = await exec('main', 'cat', `${SA_DIR}/ca.crt`);
  assert.match(ca, /BEGIN CERTIFICATE/);
  assert.equal(ca, rootCa.data?.['ca.crt']);
  assert.equal(await exec('main', 'cat', `${SA_DIR}/namespace`), NS);
});

test('ConfigMap and Secret keys appear as files; secret files are mode 0644', { timeout: 30_000 }, async () => {
  const cfgFiles = (await exec('main', 'ls', '/etc/cfg')).split('\n').filter(Boolean).sort();
  assert.deepEqual(cfgFiles, ['greeting', 'other']);
  assert.equal(await exec('main', 'cat', '/etc/cfg/greeting'), 'hello');
  assert.equal(await exec('main', 'cat', '/etc/cfg/other'), 'x');
  assert.deepEqual((await exec('main', 'ls', '/etc/sec')).split('\n').filter(Boolean), ['token']);
  assert.equal(await exec('main', 'cat', '/etc/sec/token'), 'abc123');
  assert.equal((await exec('main', 'stat', '-L', '-c', '%a', '/etc/sec/token')).trim(), '644');
  // The secret volume is mounted read-only.
  await assert.rejects(exec('main', 'sh', '-c', 'echo x > /etc/sec/new'));
});

test('an emptyDir is shared between the containers of a pod', { timeout: 30_000 }, async () => {
  assert.equal((await exec('main', 'cat', '/shared/msg')).trim(), 'from-writer');
  await exec('main', 'sh', '-c', 'echo from-main > /shared/reply');
  assert.equal((await exec('writer', 'cat', '/data/reply')).trim(), 'from-main');
});

test('a ConfigMap update reaches the mounted file', { timeout: 120_000 }, async () => {
  await b().kubectl(['patch', 'configmap', 'app-config', '-n', NS, '--type=merge', '-p', JSON.stringify({ data: { greeting: 'updated' } })]);
  // The agent refreshes volumes every 60 s.
  await b().waitFor(async () => (await exec('main', 'cat', '/etc/cfg/greeting')) === 'updated', { what: 'updated greeting in /etc/cfg', timeoutMs: 95_000, intervalMs: 2000 });
  assert.equal(await exec('main', 'cat', '/etc/cfg/other'), 'x');
});
