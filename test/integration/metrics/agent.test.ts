// The agent's metrics routes on the kubelet server, reached as users and metrics-server reach them:
// through the real apiserver's node proxy (`kubectl get --raw /api/v1/nodes/<node>/proxy/...`), with
// the kubelet server's authentication and authorization in the path. A pod with a 0.5 CPU limit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { startBed, type Bed } from '../agent/bed.js';
import { Summary } from '../../unit/metrics/summary-schema.js';

const NODE = `metrics-agent-${process.pid}`;
const NS = `metrics-${process.pid}`;
let bed: Bed;

const raw = (path: string) => bed.kubectl(['get', '--raw', `/api/v1/nodes/${NODE}/proxy${path}`]);

function promtool(text: string): void {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.ok(!r.error, 'promtool is installed (apt-get install prometheus)');
  assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
}

before(async () => {
  bed = await startBed({ nodeName: NODE });
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
    resources: { limits: { cpu: 500m, memory: 64Mi } }
`);
  await bed.waitFor(async () => (await bed.pod(NS, 'busy'))?.status?.containerStatuses?.[0]?.state?.running !== undefined,
    { what: 'pod busy running', timeoutMs: 90_000 });
});

after(async () => {
  await bed?.stop();
});

test('/metrics/resource through the apiserver: the stable names for the pod, promtool-clean', async () => {
  const text = await bed.waitFor(async () => {
    const t = await raw('/metrics/resource');
    return t.includes(`container_cpu_usage_seconds_total{container="main",namespace="${NS}",pod="busy"}`) ? t : undefined;
  }, { what: 'the pod in /metrics/resource (after a housekeeping)', timeoutMs: 30_000 });
  assert.match(text, new RegExp(`^container_memory_working_set_bytes\\{container="main",namespace="${NS}",pod="busy"\\} \\d+ \\d+$`, 'm'));
  assert.match(text, new RegExp(`^pod_cpu_usage_seconds_total\\{namespace="${NS}",pod="busy"\\} `, 'm'));
  assert.match(text, /^node_memory_working_set_bytes \d+ \d+$/m);
  promtool(text);
});

test('/stats/summary through the apiserver: stats/v1alpha1 with the pod and a CPU rate at most its limit', async () => {
  const pod = await bed.waitFor(async () => {
    const s = Summary.parse(JSON.parse(await raw('/stats/summary')));
    const p = s.pods.find((x) => x.podRef.name === 'busy' && x.podRef.namespace === NS);
    return p?.containers[0]?.cpu?.usageNanoCores !== undefined ? { s, p } : undefined;
  }, { what: 'a CPU rate for the pod (two housekeepings)', timeoutMs: 40_000 });
  assert.equal(pod.s.node.nodeName, NODE);
  assert.deepEqual(pod.p.containers.map((c) => c.name), ['main']);
  const cores = pod.p.containers[0]!.cpu!.usageNanoCores! / 1e9;
  assert.ok(cores > 0.05 && cores < 0.56, `usageNanoCores ${cores} cores under a 500m limit`);
  assert.equal(pod.p.network?.name, 'eth0', 'pod network from the sandbox');
});

test('/metrics/cadvisor and /metrics through the apiserver: kubelet labels, promtool-clean', async () => {
  const text = await raw('/metrics/cadvisor');
  const mine = text.split('\n').filter((l) => l.includes(`namespace="${NS}"`) && l.includes('pod="busy"'));
  assert.ok(mine.some((l) => l.startsWith('container_cpu_usage_seconds_total{container="main",')), 'the container');
  assert.ok(mine.some((l) => l.startsWith('container_spec_cpu_quota{container="main",') && / 50000 \d+$/.test(l)), 'the 500m limit as a CFS quota');
  assert.ok(mine.some((l) => l.startsWith('container_network_receive_bytes_total{container="",')), 'the pod network');
  promtool(text);
  const own = await raw('/metrics');
  // This node runs exactly one pod (sandbox + one container); other engineers' pods on the host are not its own.
  assert.match(own, /^kubelet_running_pods 1$/m);
  assert.match(own, /^kubelet_running_containers\{container_state="running"\} 1$/m);
  assert.match(own, /^# TYPE dockerlet_watch_reconnects_total counter$/m);
  promtool(own);
});
