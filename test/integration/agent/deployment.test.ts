// End to end: a Deployment scheduled onto the agent's node runs on Docker, serves HTTP on its pod
// IPs, and follows scaling 3 → 10 → 0 (pods and their containers gone at the end).
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../../kube/api.js';
import { startBed, type Bed } from './bed.js';

const NODE = 'dl-e2e-deploy';
const NS = 'e2e-deploy';
let bed: Bed | undefined;
const b = () => bed as Bed;

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
}, { timeout: 180_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function webPods(): Promise<Pod[]> {
  return (await b().kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', NS, '-l', 'app=web'])).items;
}

/** Waits until exactly n pods of the deployment exist, all Running and Ready. */
function converged(n: number, timeoutMs: number): Promise<Pod[]> {
  return b().waitFor(async () => {
    const pods = await webPods();
    const live = pods.filter((p) => !p.metadata.deletionTimestamp);
    if (pods.length !== n || live.length !== n) return undefined;
    return live.every((p) => p.status?.phase === 'Running' && isReady(p)) ? pods : undefined;
  }, { what: `${n} web pods Running and Ready`, timeoutMs, intervalMs: 1000 });
}

async function managedContainers(): Promise<string[]> {
  const out = await b().docker(['ps', '-a', '--format', '{{.Names}}', '--filter', `label=io.kubernetes.pod.namespace=${NS}`]);
  return out.split('\n').filter(Boolean);
}

function wget(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('wget', ['-qO-', '-T', '5', url], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`wget ${url}: ${String(stderr) || err.message}`));
      else resolve(String(stdout));
    });
  });
}

test('a 3-replica deployment runs Ready with distinct pod IPs that serve HTTP', { timeout: 120_000 }, async () => {
  const manifest = JSON.parse(await b().kubectl([
    'create', 'deployment', 'web', '-n', NS, '--image=dockerlet/busybox:1.36', '--replicas=3', '--dry-run=client', '-o', 'json', '--',
    'sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www',
  ])) as { spec: { template: { spec: { terminationGracePeriodSeconds?: number; containers: { imagePullPolicy?: string }[] } } } };
  manifest.spec.template.spec.terminationGracePeriodSeconds = 2;
  manifest.spec.template.spec.containers[0]!.imagePullPolicy = 'IfNotPresent';
  await b().apply(JSON.stringify(manifest));

  const pods = await converged(3, 90_000);
  const ips = pods.map((p) => p.status?.podIP);
  assert.ok(ips.every((ip) => typeof ip === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(ip)), `pod IPs: ${ips.join(',')}`);
  assert.equal(new Set(ips).size, 3, `distinct pod IPs: ${ips.join(',')}`);
  for (const p of pods) {
    assert.equal(p.spec.nodeName, NODE);
    assert.equal(p.status?.hostIP !== undefined, true);
    const cs = p.status?.containerStatuses?.[0];
    assert.equal(cs?.ready, true);
    assert.equal(cs?.restartCount, 0);
    assert.match(cs?.containerID ?? '', /^docker:\/\/[0-9a-f]{64}$/);
    // The pod's own bridge IP answers, with the pod's hostname (= pod name).
    const body = await b().waitFor(() => wget(`http://${p.status!.podIP}:8080/`), { what: `HTTP from ${p.metadata.name}`, timeoutMs: 20_000 });
    assert.equal(body.trim(), p.metadata.name);
  }
  const d = await b().kubectlJson<{ status?: { readyReplicas?: number; availableReplicas?: number } }>(['get', 'deployment', 'web', '-n', NS]);
  assert.equal(d.status?.readyReplicas, 3);
});

test('scaling to 10 converges: 10 pods Running and Ready, one container each', { timeout: 150_000 }, async () => {
  await b().kubectl(['scale', 'deployment', 'web', '-n', NS, '--replicas=10']);
  const pods = await converged(10, 120_000);
  assert.equal(new Set(pods.map((p) => p.status?.podIP)).size, 10);
  const running = (await b().docker(['ps', '--format', '{{.Names}}', '--filter', `label=io.kubernetes.pod.namespace=${NS}`, '--filter', 'label=io.kubernetes.container.name=busybox']))
    .split('\n').filter(Boolean);
  assert.equal(running.length, 10, `running app containers: ${running.join(' ')}`);
});

test('scaling to 0 removes every pod, and then every container of them', { timeout: 170_000 }, async () => {
  await b().kubectl(['scale', 'deployment', 'web', '-n', NS, '--replicas=0']);
  await b().waitFor(async () => (await webPods()).length === 0, { what: 'no web pods left', timeoutMs: 60_000 });
  // Nothing of them runs any more once the API objects are gone (the agent deletes them only after the kill).
  const running = (await b().docker(['ps', '--format', '{{.Names}}', '--filter', `label=io.kubernetes.pod.namespace=${NS}`])).split('\n').filter(Boolean);
  assert.deepEqual(running, []);
  // Container GC (every 60 s) removes the stopped containers of pods the node no longer has.
  await b().waitFor(async () => (await managedContainers()).length === 0, { what: 'no containers left for the deleted pods', timeoutMs: 100_000, intervalMs: 2000 });
});
