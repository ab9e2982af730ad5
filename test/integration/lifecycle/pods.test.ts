// End to end (issue 15a): pod-level features on the real bed and Docker — sidecar init containers
// (start in order gated by their startup probe, keep running, restarted on exit whatever the pod's
// policy, stopped once the app containers are done), ephemeral containers added with kubectl debug
// (status, logs, exec), activeDeadlineSeconds lowered by an update (DeadlineExceeded), admission
// (PodOSNotSupported, OutOfcpu), and the pod-sync counter on the kubelet's /metrics.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ContainerStatus, Pod } from '../../../kube/api.js';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = 'dl-lc15-pods';
const NS = 'lc15-pods';
const IMAGE = 'dockerlet/busybox:1.36';
let bed: Bed | undefined;
const b = () => bed as Bed;

function manifest(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { terminationGracePeriodSeconds: 2, ...spec } });
}

function box(name: string, script: string, extra: Record<string, unknown> = {}) {
  return { name, image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script], ...extra };
}

async function getPod(name: string): Promise<Pod> {
  return b().kubectlJson<Pod>(['get', 'pod', name, '-n', NS]);
}

const initStatus = (p: Pod, name: string): ContainerStatus | undefined => p.status?.initContainerStatuses?.find((s) => s.name === name);

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
}, { timeout: 180_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

test('a sidecar starts first, gates the next init container on its startup probe, keeps running and is restarted on exit', { timeout: 120_000 }, async () => {
  // restartPolicy Never: had `setup` run before the sidecar's startup probe passed, it would fail and fail the pod.
  await b().apply(manifest('sidecar', {
    restartPolicy: 'Never',
    volumes: [{ name: 'work', emptyDir: {} }],
    initContainers: [
      box('side', 'sleep 2; touch /work/started; exec sleep 3600', {
        restartPolicy: 'Always', volumeMounts: [{ name: 'work', mountPath: '/work' }],
        startupProbe: { exec: { command: ['test', '-f', '/work/started'] }, periodSeconds: 1, failureThreshold: 30 },
      }),
      box('setup', 'test -f /work/started', { volumeMounts: [{ name: 'work', mountPath: '/work' }] }),
    ],
    containers: [box('app', 'exec sleep 3600')],
  }));
  const p = await b().waitFor(async () => {
    const pod = await getPod('sidecar');
    return pod.status?.phase === 'Running' && pod.status.containerStatuses?.[0]?.state?.running ? pod : undefined;
  }, { what: 'sidecar pod running', timeoutMs: 60_000 });
  assert.equal(initStatus(p, 'setup')?.state?.terminated?.exitCode, 0, 'setup ran after the sidecar had started');
  assert.ok(initStatus(p, 'side')?.state?.running, 'the sidecar keeps running next to the app');
  assert.equal(p.status?.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
  // The sidecar dies: restarted although the pod's restartPolicy is Never.
  const id = await b().containerId(NS, 'sidecar', 'side', { running: true });
  assert.ok(id);
  await b().docker(['kill', id]);
  const again = await b().waitFor(async () => {
    const pod = await getPod('sidecar');
    const s = initStatus(pod, 'side');
    return s && s.restartCount >= 1 && s.state?.running ? pod : undefined;
  }, { what: 'the sidecar restarted', timeoutMs: 60_000 });
  assert.equal(again.status?.phase, 'Running');
  assert.equal(again.status?.containerStatuses?.[0]?.restartCount, 0, 'the app was not touched');
});

test('a Job-like pod with a sidecar Succeeds when its app exits 0, and the sidecar is stopped', { timeout: 90_000 }, async () => {
  await b().apply(manifest('sidecar-job', {
    restartPolicy: 'Never',
    initContainers: [box('logger', 'trap "exit 0" TERM; while true; do sleep 1; done', { restartPolicy: 'Always' })],
    containers: [box('work', 'sleep 2; echo done')],
  }));
  const p = await b().waitFor(async () => {
    const pod = await getPod('sidecar-job');
    return pod.status?.phase === 'Succeeded' ? pod : undefined;
  }, { what: 'sidecar-job Succeeded', timeoutMs: 60_000 });
  assert.equal(p.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
  await b().waitFor(async () => (await b().containerId(NS, 'sidecar-job', 'logger', { running: true })) === undefined,
    { what: 'the sidecar stopped after the app finished', timeoutMs: 30_000 });
});

test('kubectl debug adds an ephemeral container: it runs, reports status, and its logs and exec work', { timeout: 120_000 }, async () => {
  await b().apply(manifest('debugme', { containers: [box('app', 'exec sleep 3600')] }));
  await b().waitFor(async () => (await getPod('debugme')).status?.phase === 'Running', { what: 'debugme running', timeoutMs: 60_000 });
  await b().kubectl(['debug', 'debugme', '-n', NS, '--image', IMAGE, '--image-pull-policy', 'IfNotPresent', '-c', 'dbg', '--target', 'app', '--', 'sh', '-c', 'while true; do echo polo; sleep 2; done']);
  const p = await b().waitFor(async () => {
    const pod = await getPod('debugme');
    const s = (pod.status as { ephemeralContainerStatuses?: ContainerStatus[] }).ephemeralContainerStatuses?.find((x) => x.name === 'dbg');
    return s?.state?.running ? pod : undefined;
  }, { what: 'ephemeralContainerStatuses dbg running', timeoutMs: 60_000 });
  const ec = (p.status as { ephemeralContainerStatuses?: ContainerStatus[] }).ephemeralContainerStatuses![0]!;
  assert.match(ec.containerID ?? '', /^docker:\/\//);
  const id = await b().containerId(NS, 'debugme', 'dbg', { running: true });
  assert.ok(id, 'a Docker container for the ephemeral container');
  // It shares the pod's network namespace: same IP as the app container.
  const ipOf = (c: string) => b().exec(NS, 'debugme', c, ['sh', '-c', "ip -4 -o addr show eth0 | awk '{print $4}'"]);
  assert.equal(await ipOf('dbg'), await ipOf('app'));
  const logs = await b().waitFor(async () => {
    const out = await b().kubectl(['logs', 'debugme', '-n', NS, '-c', 'dbg']);
    return out.includes('polo') ? out : undefined;
  }, { what: 'kubectl logs -c dbg', timeoutMs: 30_000 });
  assert.match(logs, /polo/);
  assert.equal((await b().kubectl(['exec', 'debugme', '-n', NS, '-c', 'dbg', '--', 'echo', 'marco'])).trim(), 'marco');
  // --target app: the debug container sees the target's processes (its PID namespace).
  assert.match(await b().kubectl(['exec', 'debugme', '-n', NS, '-c', 'dbg', '--', 'ps']), /sleep 3600/);
  assert.equal((await getPod('debugme')).status?.containerStatuses?.[0]?.restartCount, 0, 'adding it did not restart the app');
});

test('activeDeadlineSeconds, set from the start or lowered by an update, fails the pod with DeadlineExceeded and stops it', { timeout: 90_000 }, async () => {
  await b().apply(manifest('deadline', { activeDeadlineSeconds: 3600, containers: [box('app', 'exec sleep 3600')] }));
  // A deadline set from the start, with nothing else happening to the pod afterwards.
  await b().apply(manifest('deadline-set', { activeDeadlineSeconds: 5, containers: [box('app', 'exec sleep 3600')] }));
  await b().waitFor(async () => (await getPod('deadline')).status?.phase === 'Running', { what: 'deadline running', timeoutMs: 60_000 });
  await b().kubectl(['patch', 'pod', 'deadline', '-n', NS, '--type=merge', '-p', '{"spec":{"activeDeadlineSeconds":2}}']);
  const p = await b().waitFor(async () => {
    const pod = await getPod('deadline');
    return pod.status?.phase === 'Failed' ? pod : undefined;
  }, { what: 'deadline Failed', timeoutMs: 45_000 });
  assert.equal(p.status?.reason, 'DeadlineExceeded');
  assert.equal(p.status?.message, 'Pod was active on the node longer than the specified deadline');
  await b().waitFor(async () => (await b().containerId(NS, 'deadline', 'app', { running: true })) === undefined, { what: 'app stopped', timeoutMs: 30_000 });
  const set = await b().waitFor(async () => {
    const pod = await getPod('deadline-set');
    return pod.status?.phase === 'Failed' ? pod : undefined;
  }, { what: 'deadline-set Failed', timeoutMs: 45_000 });
  assert.equal(set.status?.reason, 'DeadlineExceeded');
});

test('admission: spec.os windows is refused with PodOSNotSupported, requests over allocatable with OutOfcpu; nothing runs', { timeout: 60_000 }, async () => {
  await b().apply(JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'windows', namespace: NS },
    spec: { nodeName: NODE, os: { name: 'windows' }, containers: [{ name: 'app', image: IMAGE }] },
  }));
  await b().apply(JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'huge', namespace: NS },
    spec: { nodeName: NODE, containers: [box('app', 'exec sleep 3600', { resources: { requests: { cpu: '9999' } } })] },
  }));
  for (const [name, reason] of [['windows', 'PodOSNotSupported'], ['huge', 'OutOfcpu']] as const) {
    const p = await b().waitFor(async () => {
      const pod = await getPod(name);
      return pod.status?.phase === 'Failed' ? pod : undefined;
    }, { what: `${name} Failed`, timeoutMs: 30_000 });
    assert.equal(p.status?.reason, reason);
    assert.match(p.status?.message ?? '', /^Pod was rejected: /);
    assert.equal(await b().containerId(NS, name, 'app'), undefined, 'no container was created');
  }
  const ev = await b().kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=huge,reason=OutOfcpu', '-o', 'jsonpath={.items[*].message}']);
  assert.match(ev, /Node didn't have enough resource: cpu, requested: 9999000, used: \d+, capacity: \d+/);
});

test('a startup-probe kill uses the probe terminationGracePeriodSeconds, not the pod 600 s', { timeout: 120_000 }, async () => {
  // The container ignores SIGTERM: only SIGKILL at the end of the grace period stops it.
  await b().apply(manifest('startup-grace', {
    terminationGracePeriodSeconds: 600,
    containers: [box('app', 'trap "" TERM; while true; do sleep 1; done', {
      startupProbe: { exec: { command: ['false'] }, periodSeconds: 1, failureThreshold: 1, terminationGracePeriodSeconds: 2 },
    })],
  }));
  const p = await b().waitFor(async () => {
    const pod = await getPod('startup-grace');
    const cs = pod.status?.containerStatuses?.[0];
    return cs && cs.restartCount >= 1 ? pod : undefined;
  }, { what: 'the container killed by its startup probe and restarted (600 s pod grace would not allow it here)', timeoutMs: 90_000 });
  assert.equal(p.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 137, 'SIGKILL after the probe grace');
  const ev = await b().kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=startup-grace,reason=Killing', '-o', 'jsonpath={.items[*].message}']);
  assert.match(ev, /failed startup probe, will be restarted/);
  await b().kubectl(['delete', 'pod', 'startup-grace', '-n', NS, '--grace-period=1', '--wait=false']);
});

test('the pod-sync counter counts on the kubelet /metrics', { timeout: 30_000 }, async () => {
  const text = await b().kubectl(['get', '--raw', `/api/v1/nodes/${NODE}/proxy/metrics`]);
  const m = /^dockerlet_pod_syncs_total\{result="success"\} (\d+)/m.exec(text);
  assert.ok(m, 'dockerlet_pod_syncs_total{result="success"} exposed');
  assert.ok(Number(m[1]) > 0);
});
