// `kubectl top nodes` and `kubectl top pods` on the bed: a real metrics-server (sigs.k8s.io/metrics-server,
// built by scripts/build-metrics-peers.sh metrics-server) runs on this host, registered through an
// APIService whose Service (no selector) has an EndpointSlice at the host address; the apiserver reaches
// it through the daemon's own service proxy (`dockerlet run`), and metrics-server scrapes the agent's
// /metrics/resource on the kubelet port (TLS, its admin credentials authorized by the kubelet server).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../../cluster/net.js';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = `metrics-top-${process.pid}`;
const NS = `top-${process.pid}`;
let bed: Bed;
let ms: ChildProcess | undefined;
let msLog = '';

/**
 * The cached metrics-server binary. A cold build takes 20+ minutes on this 2-core machine, so the test
 * builds it only when DOCKERLET_BUILD_METRICS_SERVER=1 and is skipped (saying how to build it) otherwise.
 */
function metricsServerBinary(): string | undefined {
  const args = ['scripts/build-metrics-peers.sh', 'metrics-server'];
  const probe = spawnSync('bash', ['-c', 'v=${METRICS_SERVER_VERSION:-v0.8.0}; echo ${DOCKERLET_CACHE:-/var/cache/dockerlet}/metrics-peers/metrics-server-$v/metrics-server'], { encoding: 'utf8' });
  const cached = probe.stdout.trim();
  if (existsSync(cached)) return cached;
  if (process.env.DOCKERLET_BUILD_METRICS_SERVER !== '1') return undefined;
  const r = spawnSync('bash', args, { encoding: 'utf8', env: { ...process.env, GOMAXPROCS: '1' } });
  const bin = r.stdout.trim().split('\n').pop() ?? '';
  assert.ok(r.status === 0 && existsSync(bin), `metrics-server build failed: ${r.stderr.slice(-1500)}`);
  return bin;
}

const BIN = metricsServerBinary();

before(async () => {
  if (!BIN) return;
  const bin = BIN;
  bed = await startBed({ nodeName: NODE, command: 'run' });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
  await bed.apply(`
apiVersion: v1
kind: Pod
metadata: { name: busy, namespace: ${NS} }
spec:
  nodeName: ${NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: dockerlet/busybox:1.36
    imagePullPolicy: Never
    command: ["sh", "-c", "while :; do :; done"]
    resources: { limits: { cpu: 250m, memory: 64Mi } }
`);
  const port = await freePort();
  const host = bed.cp.advertiseAddress;
  const certs = join(bed.dir, 'metrics-server');
  mkdirSync(certs, { recursive: true });
  const admin = bed.cp.adminKubeconfigPath;
  ms = spawn(bin, [
    `--secure-port=${port}`, `--bind-address=${host}`, `--cert-dir=${certs}`,
    `--kubeconfig=${admin}`, `--authentication-kubeconfig=${admin}`, `--authorization-kubeconfig=${admin}`,
    '--kubelet-insecure-tls', '--kubelet-preferred-address-types=InternalIP', '--kubelet-use-node-status-port',
    '--metric-resolution=15s', '--kubelet-request-timeout=5s',
  ], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const keep = (d: Buffer) => { msLog = (msLog + d.toString()).slice(-20_000); };
  ms.once('exit', (code) => { msLog += `\n[metrics-server exited ${code}]`; });
  ms.stdout?.on('data', keep);
  ms.stderr?.on('data', keep);
  await bed.apply(`
apiVersion: v1
kind: Service
metadata: { name: metrics-server-${process.pid}, namespace: kube-system }
spec: { ports: [{ name: https, port: 443, targetPort: ${port} }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: metrics-server-${process.pid}-host
  namespace: kube-system
  labels: { kubernetes.io/service-name: metrics-server-${process.pid} }
addressType: IPv4
endpoints: [{ addresses: ["${host}"], conditions: { ready: true } }]
ports: [{ name: https, port: ${port}, protocol: TCP }]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: { name: v1beta1.metrics.k8s.io }
spec:
  service: { name: metrics-server-${process.pid}, namespace: kube-system, port: 443 }
  group: metrics.k8s.io
  version: v1beta1
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
`);
});

after(async () => {
  if (ms?.pid) {
    try { process.kill(-ms.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  await bed?.stop();
});

test('kubectl top nodes and kubectl top pods answer from dockerlet through metrics-server', {
  skip: BIN ? false : 'metrics-server is not built: bash scripts/build-metrics-peers.sh metrics-server (or DOCKERLET_BUILD_METRICS_SERVER=1)',
}, async () => {
  const nodes = await bed.waitFor(async () => {
    const out = await bed.kubectl(['top', 'nodes', '--no-headers']).catch(() => '');
    return out.includes(NODE) ? out : undefined;
  }, { what: `kubectl top nodes (metrics-server log: ${msLog.slice(-600)})`, timeoutMs: 120_000, intervalMs: 3000 });
  const row = nodes.split('\n').find((l) => l.startsWith(NODE))!.trim().split(/\s+/);
  assert.match(row[1]!, /^\d+m$/, `CPU column: ${row.join(' ')}`);
  assert.match(row[3]!, /^\d+Mi$/, `memory column: ${row.join(' ')}`);
  const pods = await bed.waitFor(async () => {
    const out = await bed.kubectl(['top', 'pods', '-n', NS, '--no-headers']).catch(() => '');
    return out.includes('busy') ? out : undefined;
  }, { what: 'kubectl top pods', timeoutMs: 60_000, intervalMs: 3000 });
  const cpu = Number(pods.trim().split(/\s+/)[1]!.replace(/m$/, ''));
  console.log(`kubectl top pods: ${pods.trim()}`);
  assert.ok(cpu > 50 && cpu <= 275, `busy pod under a 250m limit shows ${cpu}m`);
});
