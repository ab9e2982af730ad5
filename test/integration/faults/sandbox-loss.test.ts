// Fault: a pod's pause (sandbox) container is killed (kuberuntime PodSandboxChanged). The agent makes a
// new sandbox, runs the init containers again from the first, restarts the app container in it (restart
// count +1) and reports the new sandbox's IP on the server. A restartPolicy Never pod whose sandbox died
// gets no new sandbox: its container is stopped and the pod is Failed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../../kube/api.js';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = 'dl-faults-sandbox';
const NS = 'faults-sandbox';
const IMAGE = 'dockerlet/busybox:1.36';
let bed: Bed | undefined;
const b = () => bed as Bed;

const ready = (p: Pod | undefined) => p?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

function podJson(name: string, restartPolicy: 'Always' | 'Never', inits: string[]): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
    spec: {
      restartPolicy, terminationGracePeriodSeconds: 1,
      initContainers: inits.map((n) => ({ name: n, image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'true'] })),
      containers: [{ name: 'app', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'] }],
    },
  });
}

/** Docker containers of a pod's container (any state), newest first. */
async function instances(pod: string, container: string): Promise<string[]> {
  const out = await b().docker(['ps', '-a', '--no-trunc', '--format', '{{.ID}}', '--filter', `label=io.kubernetes.pod.namespace=${NS}`,
    '--filter', `label=io.kubernetes.pod.name=${pod}`, '--filter', `label=io.kubernetes.container.name=${container}`]);
  return out.split('\n').map((s) => s.trim()).filter(Boolean);
}

async function ipOf(id: string): Promise<string> {
  return (await b().docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', id])).trim();
}

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
  await bed.apply(podJson('always', 'Always', ['init1', 'init2']));
  await bed.apply(podJson('never', 'Never', []));
  await bed.waitFor(async () => {
    const [a, n] = await Promise.all([bed!.pod(NS, 'always'), bed!.pod(NS, 'never')]);
    return ready(a) && ready(n);
  }, { what: 'both pods Running and Ready', timeoutMs: 90_000 });
}, { timeout: 240_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

test('pause container killed: new sandbox with its IP on the server, init containers again from the first, app restarted once', { timeout: 120_000 }, async (t) => {
  const [oldSandbox] = await instances('always', 'POD');
  const oldIP = (await b().pod(NS, 'always'))?.status?.podIP;
  assert.ok(oldSandbox && oldIP);
  assert.equal((await instances('always', 'init1')).length, 1);
  await b().docker(['kill', oldSandbox]);
  const pod = await b().waitFor(async () => {
    const sandboxes = await instances('always', 'POD');
    const p = await b().pod(NS, 'always');
    if (sandboxes.length < 2 || !ready(p)) return undefined;
    // Docker may hand the new sandbox the old IP, so an unchanged IP and a Ready pod alone can be the
    // status from before the loss: also wait for the app container's restart to reach the server.
    const app = p?.status?.containerStatuses?.find((c) => c.name === 'app');
    if (!app?.state?.running || (app.restartCount ?? 0) < 1) return undefined;
    const ip = await ipOf(sandboxes[0]!);
    return p?.status?.podIP === ip && p.status.podIPs?.length === 1 ? p : undefined;
  }, { what: 'a new sandbox, its IP on the server, the app restarted in it and the pod Ready again', timeoutMs: 60_000 });
  const newSandbox = (await instances('always', 'POD'))[0]!;
  assert.notEqual(newSandbox, oldSandbox);
  t.diagnostic(`pod IP ${oldIP} -> ${pod.status?.podIP}`);
  assert.deepEqual(pod.status?.podIPs, [{ ip: await ipOf(newSandbox) }]);
  assert.equal((await instances('always', 'init1')).length, 2, 'init1 ran again');
  assert.equal((await instances('always', 'init2')).length, 2, 'init2 ran again');
  const app = pod.status?.containerStatuses?.find((c) => c.name === 'app');
  assert.equal(app?.restartCount, 1, 'the app container restarted once, in the new sandbox');
  assert.ok(app?.state?.running);
  const initStatuses = pod.status?.initContainerStatuses ?? [];
  assert.ok(initStatuses.every((s) => s.state?.terminated?.exitCode === 0), 'init containers completed');
  // The new init instances joined the new sandbox.
  const joined = (await b().docker(['inspect', '-f', '{{index .Config.Labels "io.kubernetes.sandbox.id"}}', (await instances('always', 'init1'))[0]!])).trim();
  assert.equal(joined, newSandbox);
});

test('restartPolicy Never: the sandbox is not recreated, the container is stopped and the pod is Failed', { timeout: 120_000 }, async () => {
  const [sandbox] = await instances('never', 'POD');
  assert.ok(sandbox);
  await b().docker(['kill', sandbox]);
  const pod = await b().waitFor(async () => {
    const p = await b().pod(NS, 'never');
    return p?.status?.phase === 'Failed' ? p : undefined;
  }, { what: 'the Never pod Failed', timeoutMs: 60_000 });
  assert.equal((await instances('never', 'POD')).length, 1, 'no new sandbox');
  const running = await b().docker(['ps', '-q', '--filter', `label=io.kubernetes.pod.namespace=${NS}`, '--filter', 'label=io.kubernetes.pod.name=never']);
  assert.equal(running.trim(), '', 'nothing of the pod runs');
  assert.equal(pod.status?.containerStatuses?.[0]?.restartCount, 0);
  assert.ok(pod.status?.containerStatuses?.[0]?.state?.terminated, 'the container is terminated');
  assert.ok(!ready(pod));
  // Terminal is final: it stays Failed.
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal((await b().pod(NS, 'never'))?.status?.phase, 'Failed');
});
