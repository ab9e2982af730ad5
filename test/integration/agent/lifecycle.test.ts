// End to end: the pod lifecycle as the agent runs it — crash-loop back-off, init containers in order,
// env from the downward API / ConfigMaps / Secrets, Jobs that succeed and fail, graceful deletion.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../../kube/api.js';
import { startBed, type Bed } from './bed.js';

const NODE = 'dl-e2e-lifecycle';
const IMAGE = 'dockerlet/busybox:1.36';
let bed: Bed | undefined;
const b = () => bed as Bed;

function pod(ns: string, name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { terminationGracePeriodSeconds: 2, ...spec } });
}

function box(name: string, script: string, extra: Record<string, unknown> = {}) {
  return { name, image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script], ...extra };
}

async function getPod(ns: string, name: string): Promise<Pod> {
  return b().kubectlJson<Pod>(['get', 'pod', name, '-n', ns]);
}

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent();
  for (const ns of ['lc-crash', 'lc-init', 'lc-env', 'lc-job', 'lc-grace']) await bed.kubectl(['create', 'namespace', ns]);
}, { timeout: 180_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

test('a crashing container shows CrashLoopBackOff and restarts with a growing back-off', { timeout: 120_000 }, async () => {
  // Start time of each instance, by its restart count, from Docker (GC keeps only the newest two).
  await b().apply(pod('lc-crash', 'crash', { restartPolicy: 'Always', containers: [box('crash', 'exit 3')] }));
  const starts = new Map<number, number>();
  let sawCrashLoop = false;
  await b().waitFor(async () => {
    const ids = (await b().docker(['ps', '-aq', '--no-trunc', '--filter', 'label=io.kubernetes.pod.namespace=lc-crash', '--filter', 'label=io.kubernetes.container.name=crash']))
      .split('\n').filter(Boolean);
    if (ids.length) {
      const lines = await b().docker(['inspect', '-f', '{{index .Config.Labels "io.dockerlet.restart-count"}} {{.State.StartedAt}} {{.State.Status}} {{.State.ExitCode}}', ...ids]);
      for (const line of lines.split('\n').filter(Boolean)) {
        const [count, startedAt, state, code] = line.split(' ');
        if (state === 'exited') assert.equal(code, '3');
        const at = Date.parse(startedAt ?? '');
        if (Number.isFinite(at) && at > 0) starts.set(Number(count), at);
      }
    }
    const p = await getPod('lc-crash', 'crash');
    const cs = p.status?.containerStatuses?.[0];
    if (cs?.state?.waiting?.reason === 'CrashLoopBackOff') {
      const line = await b().kubectl(['get', 'pod', 'crash', '-n', 'lc-crash', '--no-headers']);
      if (/\bCrashLoopBackOff\b/.test(line)) sawCrashLoop = true;
    }
    return [0, 1, 2, 3].every((i) => starts.has(i)) && sawCrashLoop && (cs?.restartCount ?? 0) >= 3;
  }, { what: 'four started instances of crash, restartCount 3 and CrashLoopBackOff in kubectl get pod', timeoutMs: 80_000, intervalMs: 1000 });
  const t = [0, 1, 2, 3].map((i) => starts.get(i)!);
  const gaps = [t[1]! - t[0]!, t[2]! - t[1]!, t[3]! - t[2]!];
  assert.ok(gaps[2]! > gaps[1]! && gaps[1]! > gaps[0]!, `gaps between restarts should grow: ${gaps.join(', ')} ms`);
  const p = await getPod('lc-crash', 'crash');
  const cs = p.status?.containerStatuses?.[0];
  assert.ok((cs?.restartCount ?? 0) >= 3, `restartCount ${cs?.restartCount}`);
  assert.equal(cs?.lastState?.terminated?.exitCode, 3);
  const events = await b().waitFor(async () => {
    const out = await b().kubectl(['get', 'events', '-n', 'lc-crash', '--field-selector', 'involvedObject.name=crash,reason=BackOff', '--no-headers', '--ignore-not-found']);
    return out.trim() ? out : undefined;
  }, { what: 'a BackOff Event for crash', timeoutMs: 20_000 });
  assert.match(events, /Back-off restarting failed container/);
});

test('init containers run one after another, in order, before the app container', { timeout: 60_000 }, async () => {
  await b().apply(pod('lc-init', 'ordered', {
    volumes: [{ name: 'work', emptyDir: {} }],
    initContainers: [
      box('first', 'echo first >> /work/order', { volumeMounts: [{ name: 'work', mountPath: '/work' }] }),
      box('second', 'test -f /work/order && echo second >> /work/order', { volumeMounts: [{ name: 'work', mountPath: '/work' }] }),
    ],
    containers: [box('app', 'echo app >> /work/order; exec sleep 3600', { volumeMounts: [{ name: 'work', mountPath: '/work' }] })],
  }));
  const p = await b().waitFor(async () => {
    const p = await getPod('lc-init', 'ordered');
    return p.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.ready ? p : undefined;
  }, { what: 'pod ordered Running', timeoutMs: 45_000 });
  const order = await b().waitFor(async () => {
    const text = await b().exec('lc-init', 'ordered', 'app', ['cat', '/work/order']);
    return text.includes('app') ? text : undefined;
  }, { what: 'the app line in /work/order', timeoutMs: 10_000 });
  assert.deepEqual(order.trim().split('\n'), ['first', 'second', 'app']);
  const inits = p.status?.initContainerStatuses ?? [];
  assert.deepEqual(inits.map((s) => [s.name, s.state?.terminated?.exitCode, s.state?.terminated?.reason]), [['first', 0, 'Completed'], ['second', 0, 'Completed']]);
  assert.ok(p.status?.conditions?.some((c) => c.type === 'Initialized' && c.status === 'True'));
});

test('env valueFrom: fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef reach the container', { timeout: 60_000 }, async () => {
  await b().kubectl(['create', 'configmap', 'cfg', '-n', 'lc-env', '--from-literal=color=blue']);
  await b().kubectl(['create', 'secret', 'generic', 'sec', '-n', 'lc-env', '--from-literal=password=s3cr3t-value']);
  await b().apply(pod('lc-env', 'envy', {
    containers: [box('app', 'exec sleep 3600', {
      resources: { limits: { memory: '64Mi', cpu: '250m' } },
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'MEM_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } },
        { name: 'COLOR', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'color' } } },
        { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } },
        { name: 'GREETING', value: 'hello-$(POD_NAME)' },
      ],
    })],
  }));
  const p = await b().waitFor(async () => {
    const p = await getPod('lc-env', 'envy');
    return p.status?.phase === 'Running' && p.status.podIP ? p : undefined;
  }, { what: 'pod envy Running with an IP', timeoutMs: 45_000 });
  const env = new Map((await b().exec('lc-env', 'envy', 'app', ['env'])).split('\n').filter((l) => l.includes('=')).map((l) => {
    const i = l.indexOf('=');
    return [l.slice(0, i), l.slice(i + 1)] as const;
  }));
  assert.equal(env.get('POD_NAME'), 'envy');
  assert.equal(env.get('POD_NS'), 'lc-env');
  assert.equal(env.get('POD_IP'), p.status?.podIP);
  assert.equal(env.get('MEM_LIMIT'), String(64 * 1024 * 1024));
  assert.equal(env.get('COLOR'), 'blue');
  assert.equal(env.get('PASSWORD'), 's3cr3t-value');
  assert.equal(env.get('GREETING'), 'hello-envy');
});

function job(name: string, script: string): string {
  return JSON.stringify({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: 'lc-job' },
    spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', terminationGracePeriodSeconds: 2, containers: [box('main', script)] } } },
  });
}

interface JobObj { status?: { conditions?: { type: string; status: string }[]; succeeded?: number; failed?: number } }

async function jobPod(name: string): Promise<Pod | undefined> {
  return (await b().kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', 'lc-job', '-l', `job-name=${name}`])).items[0];
}

test('a Job whose container exits 0 completes; its pod is Succeeded with exit code 0', { timeout: 60_000 }, async () => {
  await b().apply(job('ok', 'echo done; exit 0'));
  await b().waitFor(async () => {
    const j = await b().kubectlJson<JobObj>(['get', 'job', 'ok', '-n', 'lc-job']);
    return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True');
  }, { what: 'job ok Complete', timeoutMs: 45_000 });
  const p = await jobPod('ok');
  assert.equal(p?.status?.phase, 'Succeeded');
  const t = p?.status?.containerStatuses?.[0]?.state?.terminated;
  assert.equal(t?.exitCode, 0);
  assert.equal(t?.reason, 'Completed');
  assert.equal(p?.status?.containerStatuses?.[0]?.restartCount, 0);
});

test('a Job whose container exits 7 with backoffLimit 0 fails; its pod is Failed with exit code 7', { timeout: 60_000 }, async () => {
  await b().apply(job('bad', 'exit 7'));
  await b().waitFor(async () => {
    const j = await b().kubectlJson<JobObj>(['get', 'job', 'bad', '-n', 'lc-job']);
    return j.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True');
  }, { what: 'job bad Failed', timeoutMs: 45_000 });
  const p = await b().waitFor(async () => {
    const p = await jobPod('bad');
    return p?.status?.phase === 'Failed' ? p : undefined;
  }, { what: 'pod of job bad Failed', timeoutMs: 15_000 });
  const t = p.status?.containerStatuses?.[0]?.state?.terminated;
  assert.equal(t?.exitCode, 7);
  assert.equal(t?.reason, 'Error');
  assert.equal(p.status?.containerStatuses?.[0]?.restartCount, 0);
});

test('deleting with a grace period delivers SIGTERM first; the pod is then gone', { timeout: 60_000 }, async () => {
  const marks = join(b().dir, 'marks');
  await b().apply(pod('lc-grace', 'graceful', {
    terminationGracePeriodSeconds: 30,
    volumes: [{ name: 'marks', hostPath: { path: marks, type: 'DirectoryOrCreate' } }],
    containers: [box('app', 'trap "echo TERM > /marks/graceful; exit 0" TERM; while true; do sleep 1; done', { volumeMounts: [{ name: 'marks', mountPath: '/marks' }] })],
  }));
  await b().waitFor(async () => (await getPod('lc-grace', 'graceful')).status?.containerStatuses?.[0]?.ready, { what: 'pod graceful Ready', timeoutMs: 45_000 });
  const id = await b().containerId('lc-grace', 'graceful', 'app', { running: true });
  assert.ok(id);
  assert.equal(existsSync(join(marks, 'graceful')), false);
  await b().kubectl(['delete', 'pod', 'graceful', '-n', 'lc-grace', '--grace-period=10', '--wait=false']);
  await b().waitFor(async () => (await b().pod('lc-grace', 'graceful')) === undefined, { what: 'pod graceful gone', timeoutMs: 40_000 });
  assert.equal(readFileSync(join(marks, 'graceful'), 'utf8').trim(), 'TERM');
  // The container ended through its trap (exit 0), not by SIGKILL at the end of the grace period.
  const exit = await b().docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id]).catch(() => 'removed');
  if (exit.trim() !== 'removed') assert.equal(exit.trim(), 'exited 0');
});

