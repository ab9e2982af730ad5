// The kubelet server's metrics routes on real Docker: a pod laid out as dockershim did (a pause
// sandbox and an app container joined to its network namespace), read by the collector in the
// kubelet's view; /metrics/cadvisor, /metrics/resource, /stats/summary, /metrics and /metrics/probes
// answered from one snapshot, promtool-clean and schema-valid.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Dockerode from 'dockerode';
import Fastify, { type FastifyInstance } from 'fastify';
import { silentLogger } from '../../../lib/log.js';
import { Collector } from '../../../metrics/collector.js';
import { installMetricsRoutes } from '../../../metrics/routes.js';
import { Summary } from '../../unit/metrics/summary-schema.js';

const RUN = randomBytes(3).toString('hex');
const POD = `web-${RUN}`;
const NS = 'metrics-test';
const UID = `${RUN}-0000-4000-8000-000000000001`;
const docker = new Dockerode();
const dir = mkdtempSync(join(tmpdir(), 'dkl-metrics-kl-'));
const created: string[] = [];
const ac = new AbortController();
let collector: Collector;
let app: FastifyInstance;

function podLabels(container: string): Record<string, string> {
  return {
    'io.kubernetes.pod.name': POD, 'io.kubernetes.pod.namespace': NS, 'io.kubernetes.pod.uid': UID,
    'io.kubernetes.container.name': container, 'io.kubernetes.docker.type': container === 'POD' ? 'podsandbox' : 'container',
  };
}

function promtool(text: string): void {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.ok(!r.error, 'promtool is installed (apt-get install prometheus)');
  assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
}

async function get(url: string): Promise<string> {
  const r = await app.inject({ method: 'GET', url });
  assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
  return r.body;
}

before(async () => {
  const sandbox = await docker.createContainer({
    name: `k8s_POD_${POD}_${NS}_${UID}_0`, Image: 'registry.k8s.io/pause:3.10', Labels: podLabels('POD'),
    HostConfig: { IpcMode: 'shareable' },
  });
  created.push(sandbox.id);
  await sandbox.start();
  const appC = await docker.createContainer({
    name: `k8s_app_${POD}_${NS}_${UID}_0`, Image: 'dockerlet/busybox:1.36', Labels: podLabels('app'),
    Cmd: ['sh', '-c', 'while :; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; sleep 0.2; done'],
    HostConfig: { NetworkMode: `container:${sandbox.id}`, IpcMode: `container:${sandbox.id}`, Memory: 64 << 20 },
  });
  created.push(appC.id);
  await appC.start();
  collector = new Collector({ docker, log: silentLogger() }, { podsOnly: true, housekeepingMs: 1000, stateDir: join(dir, 'state') });
  await collector.start(ac.signal);
  app = Fastify();
  installMetricsRoutes(app, collector, { nodeName: 'node-m' });
  await app.ready();
  // two housekeepings, so CPU rates exist
  await collector.housekeep();
  await new Promise((r) => setTimeout(r, 1100));
  await collector.housekeep();
});

after(async () => {
  ac.abort();
  await collector?.stop();
  await app?.close();
  await Promise.all(created.map((id) => docker.getContainer(id).remove({ force: true }).catch(() => undefined)));
  rmSync(dir, { recursive: true, force: true });
});

test('/metrics/cadvisor: container, sandbox (POD) and pod series with the kubelet labels', async () => {
  const text = await get('/metrics/cadvisor');
  const mine = text.split('\n').filter((l) => l.includes(`pod="${POD}"`));
  const cpu = mine.filter((l) => l.startsWith('container_cpu_usage_seconds_total{'));
  assert.ok(cpu.some((l) => l.includes('container="app"') && l.includes(`namespace="${NS}"`) && l.includes('image="dockerlet/busybox:1.36"')), cpu.join('\n'));
  assert.ok(cpu.some((l) => l.includes('container="POD"')), 'the sandbox');
  assert.ok(cpu.some((l) => l.includes('container=""') && l.includes(`id="/kubepods/pod${UID}"`)), 'the pod');
  const rx = mine.filter((l) => l.startsWith('container_network_receive_bytes_total{'));
  assert.ok(rx.some((l) => l.includes('container=""') && l.includes('interface="eth0"')), 'pod network from the sandbox netns');
  assert.ok(!rx.some((l) => l.includes('container="app"')), 'the app container shares the sandbox netns: no network series');
  assert.ok(mine.some((l) => l.startsWith('container_spec_memory_limit_bytes{') && l.includes('container="app"') && / 67108864( |$)/.test(l)));
  assert.ok(text.split('\n').some((l) => l.startsWith('container_cpu_usage_seconds_total{') && l.includes('id="/"')), 'the node');
  promtool(text);
});

test('/metrics/resource: stable names for the app container and the pod, no sandbox', async () => {
  const text = await get('/metrics/resource');
  const mine = text.split('\n').filter((l) => l.includes(`pod="${POD}"`));
  assert.ok(mine.some((l) => l.startsWith(`container_cpu_usage_seconds_total{container="app",namespace="${NS}",pod="${POD}"} `)), mine.join('\n'));
  assert.ok(mine.some((l) => l.startsWith(`container_memory_working_set_bytes{container="app",`)));
  assert.ok(mine.some((l) => l.startsWith(`pod_cpu_usage_seconds_total{namespace="${NS}",pod="${POD}"} `)));
  assert.ok(!mine.some((l) => l.includes('container="POD"')));
  assert.match(text, /^node_cpu_usage_seconds_total \d+(\.\d+)? \d+$/m);
  promtool(text);
});

test('/stats/summary: valid stats/v1alpha1 with the pod, its container, CPU rate and network', async () => {
  const s = Summary.parse(JSON.parse(await get('/stats/summary')));
  assert.equal(s.node.nodeName, 'node-m');
  assert.ok((s.node.memory?.workingSetBytes ?? 0) > 0);
  const pod = s.pods.find((p) => p.podRef.name === POD);
  assert.ok(pod, 'the pod is listed');
  assert.equal(pod.podRef.uid, UID);
  assert.deepEqual(pod.containers.map((c) => c.name), ['app']);
  assert.ok(pod.containers[0]!.cpu?.usageNanoCores !== undefined, 'a CPU rate after two housekeepings');
  assert.ok((pod.containers[0]!.memory?.availableBytes ?? 0) > 0, 'a limit gives availableBytes');
  assert.equal(pod.network?.name, 'eth0');
  const only = Summary.parse(JSON.parse(await get('/stats/summary?only_cpu_and_memory=true')));
  assert.equal(only.pods.find((p) => p.podRef.name === POD)?.network, undefined);
});

test('/metrics and /metrics/probes: the agent registry, promtool-clean', async () => {
  const text = await get('/metrics');
  const running = Number(text.match(/^kubelet_running_pods (\d+)$/m)?.[1]);
  assert.ok(running >= 1, 'kubelet_running_pods counts the pod');
  promtool(text);
  promtool(await get('/metrics/probes'));
});
