// Fault: a pod force-deleted while the agent was down (kubelet HandlePodCleanups: orphaned pods are
// killed and cleanupOrphanedPodDirs tears down their volumes). After the agent starts again, the pod's
// containers, its tmpfs mounts (the service account token) and its pod directory are gone.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = 'dl-faults-orphans';
const NS = 'faults-orphans';
const IMAGE = 'dockerlet/busybox:1.36';
let bed: Bed | undefined;
const b = () => bed as Bed;

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${dir}/`));
}

async function containersOf(uid: string): Promise<string[]> {
  return (await b().docker(['ps', '-a', '-q', '--filter', `label=io.kubernetes.pod.uid=${uid}`])).split('\n').filter(Boolean);
}

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
}, { timeout: 180_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

test('a pod force-deleted while the agent was down: containers, tmpfs mounts and pod directory gone after start', { timeout: 180_000 }, async () => {
  for (const name of ['gone', 'kept']) {
    await b().apply(JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
      spec: {
        terminationGracePeriodSeconds: 1,
        volumes: [{ name: 'scratch', emptyDir: { medium: 'Memory' } }],
        containers: [{ name: 'app', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'], volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] }],
      },
    }));
  }
  const running = await b().waitFor(async () => {
    const [g, k] = await Promise.all([b().pod(NS, 'gone'), b().pod(NS, 'kept')]);
    return g?.status?.phase === 'Running' && k?.status?.phase === 'Running' ? [g, k] : undefined;
  }, { what: 'both pods Running', timeoutMs: 90_000 });
  const [goneUid, keptUid] = running.map((p) => p.metadata.uid!);
  const podDir = (uid: string) => join(b().dir, 'root', 'pods', uid!);
  assert.ok(existsSync(podDir(goneUid!)));
  assert.ok(mountsUnder(podDir(goneUid!)).length >= 1, 'the pod has tmpfs mounts (token, memory emptyDir)');
  assert.equal((await containersOf(goneUid!)).length, 2);

  await b().killAgent();
  await b().kubectl(['delete', 'pod', '-n', NS, 'gone', '--force', '--grace-period=0', '--wait=false']);
  await b().waitFor(async () => (await b().pod(NS, 'gone')) === undefined, { what: 'pod gone from the API', timeoutMs: 30_000 });
  await b().startAgent();

  await b().waitFor(async () => {
    return (await containersOf(goneUid!)).length === 0 && mountsUnder(podDir(goneUid!)).length === 0 && !existsSync(podDir(goneUid!));
  }, { what: 'containers, mounts and directory of the force-deleted pod removed', timeoutMs: 60_000 });
  // The other pod is untouched.
  assert.equal((await containersOf(keptUid!)).length, 2);
  assert.ok(mountsUnder(podDir(keptUid!)).length >= 1);
  assert.equal((await b().pod(NS, 'kept'))?.status?.phase, 'Running');
});
