// Static pods from a real manifest directory (the shipped examples) and their mirror pods against the
// real control plane with NODE credentials (Node authorizer + NodeRestriction admission).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node, Pod } from '../../../kube/api.js';
import { createKubeClient, type DockerletKubeClient } from '../../../kube/client.js';
import { apiStatus, isNotFound } from '../../../kube/errors.js';
import { loadKubeconfig } from '../../../kube/kubeconfig.js';
import { silentLogger } from '../../../lib/log.js';
import { StatusManager } from '../../../agent/status/manager.js';
import { StaticPodSource } from '../../../agent/static/source.js';
import { MirrorPodManager, buildMirrorPod, isMirrorPod } from '../../../agent/static/mirror.js';
import { startControlPlane, type ControlPlane } from '../../cluster/harness.js';
import { pollValue } from '../../cluster/net.js';

const NODE = 'dl-node-h7';
const EXAMPLES = new URL('../../../examples/static/', import.meta.url);

let cp: ControlPlane | undefined;
let nodeClient: DockerletKubeClient | undefined;
let admin: DockerletKubeClient | undefined;
let dir: string | undefined;
let node: Node | undefined;
let source: StaticPodSource | undefined;
let mirrors: MirrorPodManager | undefined;
let status: StatusManager | undefined;
const ac = new AbortController();

const podPath = (name: string) => `/api/v1/namespaces/default/pods/${name}`;
const getPod = (name: string) => (admin as DockerletKubeClient).get<Pod>(podPath(name));
const staticNamed = (name: string) => (source as StaticPodSource).list().find((p) => p.metadata.name === name);

async function gone(name: string): Promise<boolean> {
  try {
    await getPod(name);
    return false;
  } catch (err) {
    if (isNotFound(err)) return true;
    throw err;
  }
}

const until = <T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> => pollValue(what, timeoutMs, fn, 250);

before(async () => {
  cp = await startControlPlane();
  const creds = await cp.mintNodeCredentials(NODE);
  nodeClient = createKubeClient(loadKubeconfig(creds.kubeconfigPath));
  admin = createKubeClient(loadKubeconfig(cp.adminKubeconfigPath));
  // The Node must exist for the mirror pods' ownerReference; created with the node's own credentials.
  node = await nodeClient.create<Node>('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE } });
  dir = await mkdtemp(join(tmpdir(), 'dockerlet-static-it-'));
  for (const f of ['web.yaml', 'clock.yaml']) await copyFile(new URL(f, EXAMPLES), join(dir, f));
  source = new StaticPodSource({ dir, nodeName: NODE, log: silentLogger() });
  await source.start(ac.signal);
  status = new StatusManager({ client: nodeClient, log: silentLogger() });
  await status.start(ac.signal);
  mirrors = new MirrorPodManager({ client: nodeClient, nodeName: NODE, node: () => node?.metadata, status, log: silentLogger() });
}, { timeout: 180_000 });

after(async () => {
  ac.abort();
  await source?.stop().catch(() => undefined);
  await mirrors?.stop().catch(() => undefined);
  await status?.stop().catch(() => undefined);
  nodeClient?.close();
  admin?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  await cp?.stop();
});

test('the example static pods get mirror pods with the right annotations and Node owner', { timeout: 60_000 }, async () => {
  const pods = (source as StaticPodSource).list();
  assert.deepEqual(pods.map((p) => p.metadata.name).sort(), [`clock-${NODE}`, `web-${NODE}`]);
  const web = staticNamed(`web-${NODE}`)!;
  // What the pod worker would have set before the mirror exists: retargeted once the mirror is there.
  status!.set(web, { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });
  await mirrors!.sync(pods);

  for (const sp of pods) {
    const m = await getPod(sp.metadata.name!);
    assert.ok(isMirrorPod(m));
    const a = m.metadata.annotations ?? {};
    assert.equal(a['kubernetes.io/config.mirror'], sp.metadata.uid);
    assert.equal(a['kubernetes.io/config.hash'], sp.metadata.uid);
    assert.equal(a['kubernetes.io/config.source'], 'file');
    assert.ok(a['kubernetes.io/config.seen']);
    assert.equal(m.spec.nodeName, NODE);
    assert.deepEqual(m.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: node!.metadata.uid, controller: true }]);
    assert.equal(mirrors!.mirrorFor(sp.metadata.uid!)?.uid, m.metadata.uid);
  }
  const phase = await until('status written to the mirror pod', 20_000, async () => {
    const m = await getPod(`web-${NODE}`);
    return m.status?.phase === 'Running' ? m.status.phase : undefined;
  });
  assert.equal(phase, 'Running');
});

test('editing a manifest replaces the mirror; a deleted mirror is recreated; removing the file deletes it', { timeout: 60_000 }, async () => {
  const clockName = `clock-${NODE}`;
  const before = await getPod(clockName);
  const oldUid = staticNamed(clockName)!.metadata.uid;
  const file = join(dir!, 'clock.yaml');
  await writeFile(file, (await readFile(file, 'utf8')).replace('sleep 5', 'sleep 7'));
  await source!.rescan();
  const edited = staticNamed(clockName)!;
  assert.notEqual(edited.metadata.uid, oldUid);
  await mirrors!.sync(source!.list());
  const after = await getPod(clockName);
  assert.notEqual(after.metadata.uid, before.metadata.uid, 'a new mirror object');
  assert.equal(after.metadata.annotations?.['kubernetes.io/config.mirror'], edited.metadata.uid);
  assert.match(JSON.stringify(after.spec.containers[0]?.command), /sleep 7/);

  // Someone deletes the mirror: the next pass recreates it (the static pod is unaffected).
  await admin!.delete(podPath(clockName), { body: { gracePeriodSeconds: 0 } });
  await until('mirror deleted', 10_000, async () => ((await gone(clockName)) ? true : undefined));
  await mirrors!.sync(source!.list());
  const recreated = await getPod(clockName);
  assert.notEqual(recreated.metadata.uid, after.metadata.uid);

  await unlink(join(dir!, 'web.yaml'));
  await source!.rescan();
  assert.equal(staticNamed(`web-${NODE}`), undefined);
  await mirrors!.sync(source!.list());
  await until('web mirror deleted', 10_000, async () => ((await gone(`web-${NODE}`)) ? true : undefined));
  assert.equal((await getPod(clockName)).metadata.uid, recreated.metadata.uid, 'the other mirror is untouched');
});

test('a static pod referencing a ConfigMap gets no mirror (NodeRestriction) and the rest is unaffected', { timeout: 60_000 }, async () => {
  await writeFile(join(dir!, 'cfg.yaml'), `apiVersion: v1
kind: Pod
metadata: {name: cfg}
spec:
  containers:
    - name: c
      image: dockerlet/busybox:1.36
      imagePullPolicy: IfNotPresent
      envFrom: [{configMapRef: {name: settings}}]
`);
  await source!.rescan();
  const cfg = staticNamed(`cfg-${NODE}`);
  assert.ok(cfg, 'the static pod itself is accepted');
  await mirrors!.sync(source!.list());
  assert.equal(await gone(`cfg-${NODE}`), true);
  assert.ok(await getPod(`clock-${NODE}`));
  // The apiserver really refuses it: proof that the local check matches NodeRestriction.
  const body = buildMirrorPod(cfg, { name: NODE, uid: node!.metadata.uid! });
  await assert.rejects(nodeClient!.create('/api/v1/namespaces/default/pods', body), (err) => apiStatus(err) === 403);
});
