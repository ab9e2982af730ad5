// Real Docker: docker exec through DockerRuntime.exec, and the ProberManager probing a busybox httpd
// in a pod sandbox (httpGet readiness to the sandbox's bridge IP, exec liveness, tcpSocket probes).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Dockerode from 'dockerode';
import type { Container, Pod } from '../../../kube/api.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';
import { ProberManager } from '../../../agent/prober/manager.js';
import { DockerRuntime } from '../../../runtime/docker/runtime.js';
import type { ContainerIdentity } from '../../../runtime/types.js';

const PAUSE = 'registry.k8s.io/pause:3.10';
const BUSYBOX = 'dockerlet/busybox:1.36';
const RUN = `h10p${randomBytes(3).toString('hex')}`;
const POD_UID = `${RUN}-0000-4000-8000-pod`;
const docker = new Dockerode();
const rt = new DockerRuntime({ log: silentLogger() });
let sandboxId = '';
let podIP = '';
let appId = '';
let appStartedAtMs = 0;

function ident(containerName: string, over: Partial<ContainerIdentity> = {}): ContainerIdentity {
  return {
    podUid: POD_UID, podName: 'probed', podNamespace: 'probe-test', containerName, kind: 'container',
    attempt: 0, restartCount: 0, specHash: 'hash-' + containerName, ...over,
  };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  for (let i = 0; i < Math.ceil(timeoutMs / 100); i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

before(async () => {
  sandboxId = await rt.runSandbox({
    identity: ident('POD', { kind: 'sandbox', attempt: 1, specHash: 'sb' }),
    image: PAUSE, hostname: 'probed', hostNetwork: false, portBindings: [],
  });
  await until('sandbox IP', async () => {
    podIP = (await rt.listManaged()).find((c) => c.id === sandboxId)?.ip ?? '';
    return podIP !== '';
  });
  appId = await rt.createContainer({
    identity: ident('app'), sandboxId, image: BUSYBOX, env: [], mounts: [], resources: {}, annotations: {},
    command: ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && touch /tmp/healthy && exec httpd -f -p 8080 -h /www'],
  });
  await rt.startContainer(appId);
  const app = (await rt.listManaged()).find((c) => c.id === appId);
  assert.equal(app?.state, 'running');
  appStartedAtMs = Date.parse(app.startedAt ?? '') || Date.now();
});

after(async () => {
  const all = await docker.listContainers({ all: true, filters: { label: ['io.kubernetes.pod.uid'] } });
  for (const c of all) {
    if (c.Labels['io.kubernetes.pod.uid']?.startsWith(RUN)) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
  }
});

test('DockerRuntime.exec: exit code, combined stdout+stderr, 10 KiB cap, timeout, missing container', async () => {
  // dockerd reads the two pipes concurrently: both streams are in the output, their order is not fixed.
  const mixed = await rt.exec(appId, ['sh', '-c', 'echo out; echo err >&2; exit 3'], { timeoutMs: 5000 });
  assert.equal(mixed.exitCode, 3);
  assert.deepEqual(mixed.output.split('\n').filter(Boolean).sort(), ['err', 'out']);
  assert.deepEqual(await rt.exec(appId, ['true'], { timeoutMs: 5000 }), { exitCode: 0, output: '' });
  const big = await rt.exec(appId, ['sh', '-c', 'head -c 50000 /dev/zero | tr "\\0" x'], { timeoutMs: 5000 });
  assert.equal(big.exitCode, 0);
  assert.equal(big.output.length, 10 * 1024);
  await assert.rejects(rt.exec(appId, ['sleep', '5'], { timeoutMs: 500 }), (err) => isCode(err, ErrorCodes.EXEC_TIMEOUT));
  await assert.rejects(rt.exec('no-such-container-' + RUN, ['true'], { timeoutMs: 2000 }), (err) => isCode(err, ErrorCodes.NOT_FOUND));
});

test('probes against a real container: tcp startup, http readiness flips with the served file, exec liveness fails', async () => {
  const container: Container = {
    name: 'app', image: BUSYBOX, ports: [{ name: 'http', containerPort: 8080 }],
    startupProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1, failureThreshold: 30 },
    readinessProbe: { httpGet: { port: 8080, path: '/index.html' }, periodSeconds: 1, failureThreshold: 1 },
    livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 2 },
  };
  const pod: Pod = { metadata: { name: 'probed', namespace: 'probe-test', uid: POD_UID }, spec: { containers: [container] } };
  const events: { type: string; reason: string; message: string; fieldPath?: string }[] = [];
  const mgr = new ProberManager({
    runtime: rt, log: silentLogger(),
    events: { event: (obj, type, reason, message) => events.push({ type, reason, message, fieldPath: obj.fieldPath }) },
  });
  const changes: string[] = [];
  mgr.onChange((uid) => changes.push(uid));
  try {
    mgr.syncPod(pod, [{ containerName: 'app', containerId: appId, podIP, startedAtMs: appStartedAtMs }]);
    assert.equal(mgr.workerCount(), 3);
    await until('started and ready', () => mgr.isStarted(POD_UID, 'app', appId) && mgr.isReady(POD_UID, 'app', appId));
    assert.ok(changes.includes(POD_UID), 'result flips were reported');

    assert.equal((await rt.exec(appId, ['rm', '/www/index.html'], { timeoutMs: 5000 })).exitCode, 0);
    await until('not ready after the file is gone', () => !mgr.isReady(POD_UID, 'app', appId));
    assert.ok(events.some((e) => e.reason === 'Unhealthy' && e.message === 'Readiness probe failed: HTTP probe failed with statuscode: 404' && e.fieldPath === 'spec.containers{app}'));

    assert.equal((await rt.exec(appId, ['sh', '-c', 'echo ok > /www/index.html'], { timeoutMs: 5000 })).exitCode, 0);
    await until('ready again', () => mgr.isReady(POD_UID, 'app', appId));
    assert.equal(mgr.livenessFailed(POD_UID, 'app', appId), false);

    assert.equal((await rt.exec(appId, ['rm', '/tmp/healthy'], { timeoutMs: 5000 })).exitCode, 0);
    await until('liveness failed', () => mgr.livenessFailed(POD_UID, 'app', appId));
    const unhealthy = events.find((e) => e.reason === 'Unhealthy' && e.message.startsWith('Liveness probe failed: '));
    assert.ok(unhealthy, 'Unhealthy liveness event recorded');
    assert.match(unhealthy.message, /can't open '\/tmp\/healthy'/);
    assert.equal(unhealthy.type, 'Warning');
    assert.equal(mgr.restartMessage(POD_UID, 'app', appId), 'Container app failed liveness probe, will be restarted');
    const metrics = mgr.probeMetrics();
    assert.ok(metrics.some((m) => m.probeType === 'Startup' && m.result === 'successful'));
    assert.ok(metrics.some((m) => m.probeType === 'Liveness' && m.result === 'failed'));
  } finally {
    mgr.stop();
  }
});

test('tcpSocket readiness: a closed port is not ready, a listener makes it ready', async () => {
  const container: Container = { name: 'app', image: BUSYBOX, readinessProbe: { tcpSocket: { port: 9099 }, periodSeconds: 1, failureThreshold: 1 } };
  const pod: Pod = { metadata: { name: 'probed', namespace: 'probe-test', uid: POD_UID }, spec: { containers: [container] } };
  const events: string[] = [];
  const mgr = new ProberManager({ runtime: rt, log: silentLogger(), events: { event: (_o, _t, _r, message) => events.push(message) } });
  try {
    mgr.syncPod(pod, [{ containerName: 'app', containerId: appId, podIP, startedAtMs: appStartedAtMs }]);
    await until('a failed tcp probe', () => events.length > 0);
    assert.equal(events[0], `Readiness probe failed: dial tcp ${podIP}:9099: connect: connection refused`);
    assert.equal(mgr.isReady(POD_UID, 'app', appId), false);
    // busybox httpd without -f daemonizes (its stdio goes to /dev/null), so the exec returns at once.
    assert.equal((await rt.exec(appId, ['httpd', '-p', '9099', '-h', '/www'], { timeoutMs: 5000 })).exitCode, 0);
    await until('ready on the open port', () => mgr.isReady(POD_UID, 'app', appId));
  } finally {
    mgr.stop();
  }
});
