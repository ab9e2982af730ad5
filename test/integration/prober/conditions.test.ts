// End to end (real control plane, agent, Docker): the pod conditions users read with kubectl —
// readiness gates (Ready follows the gate conditions another controller patches on the status; the
// agent's writes keep them), and a failed init container on a RestartNever pod (Failed, Initialized
// False with ContainersNotInitialized, app container never started).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, PodCondition } from '../../../kube/api.js';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = 'dl-e2e-conditions';
const NS = 'cond';
const IMAGE = 'dockerlet/busybox:1.36';
let bed: Bed | undefined;
const b = () => bed as Bed;

const box = (name: string, script: string) => ({ name, image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script] });
const cond = (p: Pod | undefined, type: string): PodCondition | undefined => p?.status?.conditions?.find((c) => c.type === type);

async function patchGates(name: string, one: 'True' | 'False', two: 'True' | 'False'): Promise<void> {
  const patch = { status: { conditions: [{ type: 'example.com/gate-1', status: one }, { type: 'example.com/gate-2', status: two }] } };
  await b().kubectl(['patch', 'pod', name, '-n', NS, '--subresource=status', '--type=strategic', '-p', JSON.stringify(patch)]);
}

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
}, { timeout: 240_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

test('readiness gates: Ready only once every gate condition is True; the gate conditions survive the agent\'s writes', { timeout: 180_000 }, async () => {
  await b().apply(JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gated', namespace: NS },
    spec: { terminationGracePeriodSeconds: 1, readinessGates: [{ conditionType: 'example.com/gate-1' }, { conditionType: 'example.com/gate-2' }], containers: [box('app', 'exec sleep 3600')] },
  }));
  const running = await b().waitFor(async () => {
    const p = await b().pod(NS, 'gated');
    return p?.status?.phase === 'Running' && cond(p, 'ContainersReady')?.status === 'True' ? p : undefined;
  }, { what: 'gated pod running with its containers ready', timeoutMs: 90_000 });
  assert.equal(cond(running, 'Ready')?.status, 'False');
  assert.equal(cond(running, 'Ready')?.reason, 'ReadinessGatesNotReady');

  await patchGates('gated', 'True', 'False');
  const half = await b().waitFor(async () => {
    const p = await b().pod(NS, 'gated');
    return cond(p, 'Ready')?.message?.includes('"example.com/gate-2" is not "True", but False') ? p : undefined;
  }, { what: 'Ready naming the gate still False', timeoutMs: 60_000 });
  assert.equal(cond(half, 'Ready')?.status, 'False');

  await patchGates('gated', 'True', 'True');
  const ready = await b().waitFor(async () => {
    const p = await b().pod(NS, 'gated');
    return cond(p, 'Ready')?.status === 'True' ? p : undefined;
  }, { what: 'Ready once both gates are True', timeoutMs: 60_000 });
  assert.equal(cond(ready, 'example.com/gate-1')?.status, 'True', 'the gate condition is still there');

  await patchGates('gated', 'False', 'False');
  const unready = await b().waitFor(async () => {
    const p = await b().pod(NS, 'gated');
    return cond(p, 'Ready')?.status === 'False' ? p : undefined;
  }, { what: 'not Ready once a gate is False again', timeoutMs: 60_000 });
  assert.equal(cond(unready, 'example.com/gate-2')?.status, 'False');
  assert.equal(cond(unready, 'ContainersReady')?.status, 'True');
});

test('a failed init container on a RestartNever pod: Failed, Initialized False, the app never started', { timeout: 180_000 }, async () => {
  await b().apply(JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'init-fails', namespace: NS },
    spec: { restartPolicy: 'Never', terminationGracePeriodSeconds: 1, initContainers: [box('init1', 'exit 1'), box('init2', 'true')], containers: [box('run1', 'exec sleep 3600')] },
  }));
  const failed = await b().waitFor(async () => {
    const p = await b().pod(NS, 'init-fails');
    return p?.status?.phase === 'Failed' ? p : undefined;
  }, { what: 'init-fails pod Failed', timeoutMs: 90_000 });
  const init = cond(failed, 'Initialized');
  assert.equal(init?.status, 'False');
  assert.equal(init?.reason, 'ContainersNotInitialized');
  assert.equal(init?.message, 'containers with incomplete status: [init1 init2]');
  assert.equal(cond(failed, 'Ready')?.reason, 'PodFailed');
  assert.equal(failed.status?.initContainerStatuses?.find((s) => s.name === 'init1')?.state?.terminated?.exitCode, 1);
  assert.equal(failed.status?.containerStatuses?.[0]?.state?.running, undefined, 'the app container never ran');
  assert.equal(await b().containerId(NS, 'init-fails', 'run1'), undefined);
});
