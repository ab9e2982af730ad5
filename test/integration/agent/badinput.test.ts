// End to end: bad input is reported where users look for it and harms nothing else — invalid image
// names, images that may not be pulled, missing ConfigMap keys (waiting reasons + Warning Events),
// broken static manifests (one log line naming file and field) next to a good static pod.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CoreEvent, Pod } from '../../../kube/api.js';
import { startBed, type Bed } from './bed.js';

const NODE = 'dl-e2e-badinput';
const NS = 'e2e-bad';
const IMAGE = 'dockerlet/busybox:1.36';
let bed: Bed | undefined;
const b = () => bed as Bed;
let bystanderId = '';

const GOOD_STATIC = `apiVersion: v1
kind: Pod
metadata:
  name: good
  namespace: default
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: ${IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "exec sleep 3600"]
`;
const BAD_STATIC: Record<string, { text: string; names: RegExp }> = {
  'broken.yaml': { text: 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: broken\n  labels: {a: b\nspec:\n  containers: []\n', names: /YAML syntax error at line \d+/ },
  'unknown.yaml': { text: GOOD_STATIC.replace('name: good', 'name: unknown').replace('imagePullPolicy: IfNotPresent', 'imagePullPolice: IfNotPresent'), names: /spec\.containers\[0\]\.imagePullPolice/ },
  'wrongtype.yaml': { text: GOOD_STATIC.replace('name: good', 'name: wrongtype').replace('terminationGracePeriodSeconds: 2', 'terminationGracePeriodSeconds: ten'), names: /spec\.terminationGracePeriodSeconds/ },
};

function pod(name: string, container: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
    spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'app', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'], ...container }] },
  });
}

async function getPod(name: string, ns = NS): Promise<Pod> {
  return b().kubectlJson<Pod>(['get', 'pod', name, '-n', ns]);
}

async function waitingReason(name: string, reason: string): Promise<Pod> {
  return b().waitFor(async () => {
    const p = await getPod(name);
    return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === reason ? p : undefined;
  }, { what: `pod ${name} waiting with reason ${reason}`, timeoutMs: 45_000 });
}

async function warnings(name: string): Promise<CoreEvent[]> {
  const list = await b().kubectlJson<{ items: CoreEvent[] }>(['get', 'events', '-n', NS, '--field-selector', `involvedObject.name=${name},type=Warning`]);
  return list.items;
}

before(async () => {
  bed = await startBed({ nodeName: NODE, staticPods: true });
  writeFileSync(join(bed.manifestDir!, 'good.yaml'), GOOD_STATIC);
  for (const [file, { text }] of Object.entries(BAD_STATIC)) writeFileSync(join(bed.manifestDir!, file), text);
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
  await bed.apply(pod('bystander', {}));
  await bed.waitFor(async () => (await getPod('bystander')).status?.containerStatuses?.[0]?.ready, { what: 'bystander Ready', timeoutMs: 60_000 });
  bystanderId = (await getPod('bystander')).status!.containerStatuses![0]!.containerID!;
}, { timeout: 180_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

test('an invalid image name: waiting InvalidImageName and a Warning Event', { timeout: 60_000 }, async () => {
  await b().apply(pod('badname', { image: 'Bad Image!!' }));
  const p = await waitingReason('badname', 'InvalidImageName');
  assert.equal(p.status?.phase, 'Pending');
  const evs = await b().waitFor(async () => {
    const evs = await warnings('badname');
    return evs.some((e) => e.reason === 'InspectFailed') ? evs : undefined;
  }, { what: 'InspectFailed Warning Event for badname', timeoutMs: 20_000 });
  assert.match(evs.find((e) => e.reason === 'InspectFailed')!.message ?? '', /Bad Image!!/);
  assert.equal((await b().docker(['ps', '-a', '-q', '--filter', 'label=io.kubernetes.pod.name=badname', '--filter', 'label=io.kubernetes.container.name=app'])).trim(), '');
});

test('an absent image with imagePullPolicy Never: waiting ErrImageNeverPull and a Warning Event', { timeout: 60_000 }, async () => {
  await b().apply(pod('neverpull', { image: 'dockerlet/not-here:0.0.1', imagePullPolicy: 'Never' }));
  const p = await waitingReason('neverpull', 'ErrImageNeverPull');
  assert.match(p.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /not present with pull policy of Never/);
  await b().waitFor(async () => (await warnings('neverpull')).some((e) => e.reason === 'ErrImageNeverPull'), { what: 'ErrImageNeverPull Warning Event', timeoutMs: 20_000 });
});

test('a missing ConfigMap key in env: waiting CreateContainerConfigError and a Warning Event', { timeout: 60_000 }, async () => {
  await b().kubectl(['create', 'configmap', 'settings', '-n', NS, '--from-literal=present=yes']);
  await b().apply(pod('nokey', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'settings', key: 'absent' } } }] }));
  const p = await waitingReason('nokey', 'CreateContainerConfigError');
  assert.match(p.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /absent/);
  const evs = await b().waitFor(async () => {
    const evs = (await warnings('nokey')).filter((e) => e.reason === 'Failed');
    return evs.length ? evs : undefined;
  }, { what: 'Failed Warning Event for nokey', timeoutMs: 20_000 });
  assert.match(evs[0]!.message ?? '', /absent/);
});

test('broken static manifests: one log line each naming file and field; the good static pod runs with its mirror', { timeout: 60_000 }, async () => {
  const mirrorName = `good-${NODE}`;
  const mirror = await b().waitFor(async () => {
    const p = await getPod(mirrorName, 'default');
    return p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.ready ? p : undefined;
  }, { what: `mirror pod ${mirrorName} Running and Ready`, timeoutMs: 45_000 });
  assert.equal(mirror.metadata.annotations?.['kubernetes.io/config.source'], 'file');
  assert.ok(mirror.metadata.annotations?.['kubernetes.io/config.mirror']);
  assert.ok(await b().containerId('default', mirrorName, 'app', { running: true }), 'the static pod container runs');

  const lines = b().agentLog().split('\n');
  for (const [file, { names }] of Object.entries(BAD_STATIC)) {
    const about = lines.filter((l) => l.includes(file));
    assert.equal(about.length, 1, `one log line about ${file}:\n${about.join('\n')}`);
    assert.match(about[0]!, names);
  }
  const all = (await b().kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', 'default'])).items.map((p) => p.metadata.name);
  assert.deepEqual(all, [mirrorName], 'no pods for the broken manifests');
});

test('through all of this the other pods kept running undisturbed', { timeout: 30_000 }, async () => {
  const p = await getPod('bystander');
  const cs = p.status?.containerStatuses?.[0];
  assert.equal(p.status?.phase, 'Running');
  assert.equal(cs?.ready, true);
  assert.equal(cs?.containerID, bystanderId);
  assert.equal(cs?.restartCount, 0);
  const running = await b().containerId(NS, 'bystander', 'app', { running: true });
  assert.equal(`docker://${running}`, bystanderId);
});
