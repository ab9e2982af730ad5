// The kubelet API through the real apiserver, as users reach it: `kubectl logs` with each option
// (-f, --previous after a restart, --since, --tail, --timestamps, --limit-bytes), the kubelet's
// authentication and authorization on its own port (no credentials, a token without and with RBAC,
// a certificate from another CA), service environment variables, and a pod that uses in-cluster
// config through the kubernetes Service (the daemon runs with its proxy) to read itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureInClusterImage } from '../../cluster/incluster-image.js';
import { createCa, issueCert, type IssuedCert } from '../../cluster/pki.js';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = `srv-kubectl-${process.pid}`;
const NS = `srv-${process.pid}`;
let bed: Bed;
let port: number;
let admin: IssuedCert;
let foreign: IssuedCert;

interface Res { status: number; body: string }

function kubelet(path: string, o: { cert?: IssuedCert; token?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, rejectUnauthorized: false,
      headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
      ...(o.cert ? { cert: o.cert.certPem, key: o.cert.keyPem } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

const pod = (name: string, script: string, extra = '', image = 'dockerlet/busybox:1.36') => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: ${NS} }
spec:
  nodeName: ${NODE}
  terminationGracePeriodSeconds: 1
  ${extra}
  containers:
  - name: main
    image: ${image}
    imagePullPolicy: Never
    command: ["sh", "-c", ${JSON.stringify(script)}]
`;

async function running(name: string, minRestarts = 0): Promise<void> {
  await bed.waitFor(async () => {
    const p = await bed.pod(NS, name);
    const cs = p?.status?.containerStatuses?.[0];
    return cs?.state?.running !== undefined && cs.restartCount >= minRestarts;
  }, { what: `pod ${name} running (restarts ≥ ${minRestarts})`, timeoutMs: 90_000 });
}

const logs = (name: string, ...args: string[]) => bed.kubectl(['logs', '-n', NS, name, ...args]);

before(async () => {
  bed = await startBed({ nodeName: NODE, command: 'run' });
  port = bed.kubeletPort; // the bed passes --port and --client-ca-file (the cluster CA)
  await bed.startAgent();
  const ca = { certPath: bed.cp.caCertPath, keyPath: join(bed.cp.dir, 'pki', 'ca.key'), certPem: bed.cp.caCertPem };
  admin = await issueCert(ca, join(bed.dir, 'certs'), { name: 'admin', commonName: 'srv-admin', organizations: ['system:masters'], usage: 'client' });
  const other = await createCa(join(bed.dir, 'other'), 'another-ca');
  foreign = await issueCert(other, join(bed.dir, 'other'), { name: 'admin', commonName: 'srv-admin', organizations: ['system:masters'], usage: 'client' });
  await bed.kubectl(['create', 'namespace', NS]);
  await bed.apply(`
apiVersion: v1
kind: Service
metadata: { name: srv-web, namespace: ${NS} }
spec: { ports: [{ name: http, port: 80 }, { name: dns, port: 53, protocol: UDP }], selector: { app: none } }
`);
  await bed.apply(pod('ticker', 'echo one; echo two; echo three; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.3; done'));
  await bed.apply(pod('crasher', 'n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo run-$n; sleep 2; exit 1',
    'volumes: [{ name: data, emptyDir: {} }]\n  restartPolicy: Always').replace('    command:', '    volumeMounts: [{ name: data, mountPath: /data }]\n    command:'));
});

after(async () => {
  await bed?.kubectl(['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
  await bed?.stop();
});

test('kubectl logs: --tail, --timestamps, --limit-bytes, --since, and errors from the kubelet', async () => {
  await running('ticker');
  await bed.waitFor(async () => (await logs('ticker')).includes('tick-3'), { what: 'three ticks' });
  assert.deepEqual((await logs('ticker')).split('\n').slice(0, 4), ['one', 'two', 'three', 'tick-1']);
  assert.equal((await logs('ticker', '--tail=2')).split('\n').filter(Boolean).length, 2);
  assert.match(await logs('ticker', '--tail=1', '--timestamps'), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z tick-\d+\n$/);
  assert.equal(await logs('ticker', '--limit-bytes=6'), 'one\ntw');
  await new Promise((r) => setTimeout(r, 2500));
  const recent = (await logs('ticker', '--since=1s')).split('\n').filter(Boolean);
  assert.ok(recent.length > 0 && recent.length <= 8 && recent.every((l) => l.startsWith('tick-')), `--since=1s: ${recent.join(',')}`);
  await assert.rejects(logs('ticker', '-c', 'nope'), /container nope is not valid for pod ticker/);
  await assert.rejects(logs('ticker', '--previous'), /previous terminated container "main" in pod "ticker" not found/);
});

test('kubectl logs -f follows new lines and ends when interrupted', async () => {
  await running('ticker');
  const child = spawn('kubectl', ['--kubeconfig', bed.cp.adminKubeconfigPath, 'logs', '-f', '--tail=1', '-n', NS, 'ticker']);
  const seen: number[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no new lines followed: ${seen.join(',')}`)), 30_000);
      let buf = '';
      child.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) seen.push(Number(/^tick-(\d+)$/.exec(l)?.[1] ?? NaN));
        if (seen.length >= 4) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`kubectl logs -f exited ${code}`)));
    });
  } finally {
    child.kill('SIGINT');
  }
  assert.ok(seen.every((n, i) => Number.isInteger(n) && (i === 0 || n === (seen[i - 1] ?? 0) + 1)), `consecutive ticks: ${seen.join(',')}`);
});

test('kubectl logs --previous after a restart shows the run before the current one', async () => {
  await running('crasher', 1);
  const [cur, prev] = await bed.waitFor(async () => {
    const c = (await logs('crasher')).trim();
    const p = (await logs('crasher', '--previous')).trim();
    const n = Number(/^run-(\d+)$/.exec(c)?.[1]);
    return n >= 2 && p === `run-${n - 1}` ? [c, p] : undefined;
  }, { what: 'current run-N and previous run-(N-1)', timeoutMs: 60_000 });
  assert.match(cur, /^run-\d+$/);
  assert.match(prev, /^run-\d+$/);
});

test('the kubelet port authenticates and authorizes: 401, 403 without RBAC, 200 with it, other CA refused', async () => {
  assert.deepEqual(await kubelet('/pods'), { status: 401, body: 'Unauthorized' });
  assert.equal((await kubelet('/pods', { cert: foreign })).status, 401);
  assert.equal((await kubelet('/pods', { token: 'not-a-token' })).status, 401);
  for (const sa of ['nobody', 'reader']) await bed.kubectl(['create', 'serviceaccount', sa, '-n', NS]);
  await bed.kubectl(['create', 'clusterrole', `${NS}-nodes-proxy`, '--verb=get', '--resource=nodes/proxy']);
  await bed.kubectl(['create', 'clusterrolebinding', `${NS}-reader`, `--clusterrole=${NS}-nodes-proxy`, `--serviceaccount=${NS}:reader`]);
  const nobody = (await bed.kubectl(['create', 'token', 'nobody', '-n', NS])).trim();
  const reader = (await bed.kubectl(['create', 'token', 'reader', '-n', NS])).trim();
  const denied = await kubelet('/pods', { token: nobody });
  assert.equal(denied.status, 403);
  assert.equal(denied.body, `Forbidden (user=system:serviceaccount:${NS}:nobody, verb=get, resource=nodes, subresource(s)=[pods proxy])`);
  const allowed = await kubelet('/pods', { token: reader });
  assert.equal(allowed.status, 200);
  const names = (JSON.parse(allowed.body) as { items: { metadata: { name: string } }[] }).items.map((p) => p.metadata.name);
  assert.ok(names.includes('ticker'), names.join(','));
  assert.equal((await kubelet('/configz', { token: reader })).status, 200, 'configz falls back to nodes/proxy');
  assert.equal((await kubelet('/metrics', { token: reader })).status, 403, 'nodes/metrics is not nodes/proxy');
  // A certificate from the cluster CA in system:masters is let in by SubjectAccessReview.
  const junk = await kubelet(`/containerLogs/${NS}/ticker/main?tailLines=abc`, { cert: admin });
  assert.deepEqual(junk, { status: 400, body: 'Unable to decode query: tailLines: "abc" is not an integer' });
  assert.equal((await kubelet(`/containerLogs/${NS}/ticker/main?tailLines=1`, { cert: admin })).status, 200);
  assert.equal((await kubelet('/healthz/syncloop', { cert: admin })).body, 'ok');
});

test('service links and in-cluster config: a pod reads itself through the kubernetes Service', async () => {
  await bed.kubectl(['create', 'role', 'self-reader', '-n', NS, '--verb=get', '--resource=pods']);
  await bed.kubectl(['create', 'rolebinding', 'self-reader', '-n', NS, '--role=self-reader', `--serviceaccount=${NS}:default`]);
  const script = [
    'env | grep -E "^(KUBERNETES|SRV_WEB)_" | sort',
    // The token, CA and namespace of the service-account mount, the serving certificate verified (see incluster.go).
    'incluster "/api/v1/namespaces/{ns}/pods/{pod}" > /tmp/me',
    'echo; echo SELF: $(tr , "\\n" < /tmp/me | grep -m1 uid)',
    'sleep 3600',
  ].join('\n');
  await bed.apply(pod('incluster', script, '', await ensureInClusterImage()));
  await running('incluster');
  const out = await bed.waitFor(async () => {
    const l = await logs('incluster');
    return l.includes('SELF:') ? l : undefined;
  }, { what: 'the in-cluster request', timeoutMs: 60_000 });
  const svc = JSON.parse(await bed.kubectl(['get', 'service', 'srv-web', '-n', NS, '-o', 'json'])) as { spec: { clusterIP: string } };
  const ip = svc.spec.clusterIP;
  for (const line of ['KUBERNETES_SERVICE_HOST=10.96.0.1', 'KUBERNETES_SERVICE_PORT=443', 'KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443',
    `SRV_WEB_SERVICE_HOST=${ip}`, 'SRV_WEB_SERVICE_PORT=80', 'SRV_WEB_SERVICE_PORT_DNS=53', `SRV_WEB_PORT_53_UDP=udp://${ip}:53`]) {
    assert.ok(out.split('\n').includes(line), `${line} in\n${out}`);
  }
  const uid = (await bed.pod(NS, 'incluster'))?.metadata.uid;
  assert.ok(uid && new RegExp(`SELF: "uid": ?"${uid}"`).test(out), `the pod read itself (uid ${uid}):\n${out}`);
});

test('the streaming routes are served by the agent: kubectl exec reaches the container and returns its exit code', async () => {
  await running('ticker');
  assert.equal((await bed.kubectl(['exec', '-n', NS, 'ticker', '--', 'sh', '-c', 'echo $KUBERNETES_SERVICE_HOST'])).trim(), '10.96.0.1');
  await assert.rejects(bed.kubectl(['exec', '-n', NS, 'ticker', '--', 'sh', '-c', 'exit 3']), /command terminated with exit code 3/);
});
