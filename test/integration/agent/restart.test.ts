// End to end: the agent restarts without disturbing its pods — after SIGKILL it adopts the running
// containers (same IDs, no restarts, no duplicates); after SIGTERM the node goes NotReady/Unknown in
// the control plane and comes back Ready (pods Ready again) when the agent returns.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../../kube/api.js';
import { startBed, type Bed } from './bed.js';

const NODE = 'dl-e2e-restart';
const NS = 'e2e-restart';
const IMAGE = 'dockerlet/busybox:1.36';
const NAMES = ['alpha', 'beta'];
let bed: Bed | undefined;
const b = () => bed as Bed;

const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

interface Snapshot {
  /** pod → containerID, restartCount, phase, ready */
  pods: Map<string, { containerID: string; restartCount: number; phase: string; ready: boolean }>;
  /** Names of every Docker container (any state) of the namespace. */
  containers: string[];
}

async function snapshot(): Promise<Snapshot> {
  const list = (await b().kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', NS])).items;
  const pods = new Map(list.map((p) => {
    const cs = p.status?.containerStatuses?.[0];
    return [p.metadata.name!, { containerID: cs?.containerID ?? '', restartCount: cs?.restartCount ?? -1, phase: p.status?.phase ?? '', ready: isReady(p) }] as const;
  }));
  const containers = (await b().docker(['ps', '-a', '--format', '{{.Names}}', '--filter', `label=io.kubernetes.pod.namespace=${NS}`])).split('\n').filter(Boolean).sort();
  return { pods, containers };
}

function allRunningReady(s: Snapshot): boolean {
  return NAMES.every((n) => {
    const p = s.pods.get(n);
    return p?.phase === 'Running' && p.ready && p.containerID.startsWith('docker://');
  });
}

async function nodeReady(): Promise<string | undefined> {
  return (await b().node()).status?.conditions?.find((c) => c.type === 'Ready')?.status;
}

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
  for (const name of NAMES) {
    await bed.apply(JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
      spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'app', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'] }] },
    }));
  }
  await bed.waitFor(async () => allRunningReady(await snapshot()), { what: 'pods Running and Ready', timeoutMs: 60_000 });
}, { timeout: 180_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

/** The Started events of the namespace's pods as the API server holds them (repeats aggregated into count). */
async function startedEvents(): Promise<number> {
  const list = await b().kubectlJson<{ items: { reason?: string; count?: number; series?: { count?: number } }[] }>(['get', 'events', '-n', NS, '--field-selector', 'reason=Started']);
  return list.items.reduce((n, e) => n + Math.max(e.count ?? 1, e.series?.count ?? 0), 0);
}

test('after SIGKILL the restarted agent adopts the running containers: same IDs, no restarts, no duplicates', { timeout: 120_000 }, async () => {
  // Every Started event written before the kill (the recorder sends them in the background).
  await b().waitFor(async () => ((await startedEvents()) >= NAMES.length ? true : undefined), { what: 'the Started events in the API', timeoutMs: 30_000 });
  const before = await snapshot();
  assert.equal(before.containers.length, 4, `sandbox + app per pod: ${before.containers.join(' ')}`);
  await b().killAgent();
  const stillRunning = (await b().docker(['ps', '-q', '--filter', `label=io.kubernetes.pod.namespace=${NS}`])).split('\n').filter(Boolean);
  assert.equal(stillRunning.length, 4, 'the pods keep running while the agent is away');
  await b().startAgent();
  // Let the new agent sync every pod and write its statuses (several relist periods).
  await new Promise((r) => setTimeout(r, 8000));
  const afterRestart = await snapshot();
  assert.deepEqual(afterRestart.containers, before.containers, 'no container created or removed');
  for (const n of NAMES) assert.deepEqual(afterRestart.pods.get(n), before.pods.get(n), `pod ${n} unchanged`);
  assert.ok(allRunningReady(afterRestart));
  assert.equal(await startedEvents(), NAMES.length, 'containers were started once each (before the kill), never again');
});

test('after SIGTERM the node turns NotReady/Unknown; when the agent returns it is Ready again, pods too', { timeout: 170_000 }, async () => {
  const before = await snapshot();
  await b().stopAgent('SIGTERM');
  // The node-lifecycle controller notices the missing heartbeats after its grace period (~40–50 s).
  const status = await b().waitFor(async () => {
    const s = await nodeReady();
    return s !== 'True' ? s : undefined;
  }, { what: 'node Ready condition no longer True', timeoutMs: 90_000, intervalMs: 2000 });
  assert.ok(status === 'Unknown' || status === 'False', `Ready=${status}`);
  await b().startAgent();
  assert.equal(await nodeReady(), 'True');
  const s = await b().waitFor(async () => {
    const s = await snapshot();
    return allRunningReady(s) ? s : undefined;
  }, { what: 'pods Ready again', timeoutMs: 30_000 });
  assert.deepEqual(s.containers, before.containers, 'no container created or removed');
  for (const n of NAMES) {
    assert.equal(s.pods.get(n)?.containerID, before.pods.get(n)?.containerID);
    assert.equal(s.pods.get(n)?.restartCount, 0);
  }
});
