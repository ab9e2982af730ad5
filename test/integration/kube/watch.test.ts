// The kube/ client, watch and informer against a real kube-apiserver (Node+RBAC authorization).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';
import { startControlPlane, type ControlPlane } from '../../cluster/harness.js';
import { createCa } from '../../cluster/pki.js';
import type { KubeObject, Pod, WatchEvent } from '../../../kube/api.js';
import { createKubeClient, type DockerletKubeClient } from '../../../kube/client.js';
import { createInformer } from '../../../kube/informer.js';
import { loadKubeconfig } from '../../../kube/kubeconfig.js';
import type { KubeClient } from '../../../kube/types.js';
import {
  deletePod, ensureNode, fingerprint, NS, PODS, podBody, sleep, tappedClient, waitUntil,
} from './helpers.js';

let cp: ControlPlane;
let admin: DockerletKubeClient;
const closers: (() => void | Promise<void>)[] = [];

before(async () => {
  cp = await startControlPlane();
  admin = createKubeClient(loadKubeconfig(cp.adminKubeconfigPath), { log: silentLogger() });
  closers.push(() => admin.close());
});

after(async () => {
  for (const c of closers.reverse()) await c();
  await cp?.stop();
});

async function nodeClient(node: string, transport: 'auto' | 'http' = 'auto') {
  await ensureNode(admin, node);
  const creds = await cp.mintNodeCredentials(node);
  const tapped = tappedClient(creds.kubeconfigPath, { watchTransport: transport });
  closers.push(() => tapped.client.close());
  return tapped;
}

test('node credentials: list+watch pods over WebSocket with spec.nodeName; other nodes stay invisible', async () => {
  const { client, sockets } = await nodeClient('node-a');
  await ensureNode(admin, 'node-b');
  assert.equal(client.userHint, 'system:node:node-a');
  await admin.create(PODS, podBody('a1', 'node-a'));
  await admin.create(PODS, podBody('b1', 'node-b'));
  const inf = createInformer<Pod>(client, { path: '/api/v1/pods', fieldSelector: 'spec.nodeName=node-a' }, { log: silentLogger() });
  const seen: string[] = [];
  inf.on({
    add: (p) => seen.push(`add ${p.metadata.name}`),
    update: (_o, p) => seen.push(`update ${p.metadata.name} ${p.metadata.labels?.step ?? ''}`),
    delete: (p) => seen.push(`delete ${p.metadata.name}`),
  });
  const ctl = new AbortController();
  closers.push(() => inf.stop());
  await inf.start(ctl.signal);
  assert.deepEqual(inf.list().map((p) => p.metadata.name), ['a1']);
  await admin.create(PODS, podBody('a2', 'node-a'));
  await admin.create(PODS, podBody('b2', 'node-b'));
  await admin.patch(`${PODS}/a1`, { metadata: { labels: { step: 'one' } } }, 'merge');
  await admin.patch(`${PODS}/b1`, { metadata: { labels: { step: 'one' } } }, 'merge');
  await deletePod(admin, 'a2');
  await waitUntil('the informer to see the delete of a2', () => seen.includes('delete a2'));
  // (Updates without our label come from the apiserver itself, e.g. the graceful-delete step.)
  assert.deepEqual(seen.filter((s) => !/^update \S+ $/.test(s)), ['add a1', 'add a2', 'update a1 one', 'delete a2']);
  assert.ok(seen.every((s) => !s.includes(' b')), `no node-b pod seen: ${seen.join(', ')}`);
  assert.ok(sockets.length >= 1 && sockets.every((s) => s.transport === 'websocket'), 'the watch went over WebSocket');
  assert.equal(client.watchTransport, 'websocket');
  // Without the selector the node authorizer refuses the list.
  await assert.rejects(client.list('/api/v1/pods'), /403 Forbidden/);
  await inf.stop();
  for (const n of ['a1', 'b1', 'b2']) await deletePod(admin, n);
});

test('cut connections mid-stream: the informer resumes with no lost and no duplicated event', async () => {
  const node = 'node-churn';
  const { client, sockets } = await nodeClient(node);
  const inf = createInformer<Pod>(client, { path: '/api/v1/pods', fieldSelector: `spec.nodeName=${node}` }, { log: silentLogger() });
  const got = new Map<string, string[]>(); // pod → ["ADDED@rv", ...] as the informer delivered them
  const rec = (type: string, p: Pod) => {
    const name = p.metadata.name ?? '';
    got.set(name, [...(got.get(name) ?? []), `${type}@${p.metadata.resourceVersion}`]);
  };
  inf.on({ add: (p) => rec('ADDED', p), update: (_o, p) => rec('MODIFIED', p), delete: (p) => rec('DELETED', p) });
  const ctl = new AbortController();
  closers.push(() => inf.stop());
  await inf.start(ctl.signal);
  const startRv = inf.lastResourceVersion();
  assert.ok(startRv);

  // The reference: an uncut chunked-HTTP watch from the same resourceVersion.
  const ref = new Map<string, string[]>();
  const refClient = createKubeClient(loadKubeconfig(cp.adminKubeconfigPath), { log: silentLogger(), watchTransport: 'http' });
  closers.push(() => refClient.close());
  const refCtl = new AbortController();
  const refDone = refClient.watchOnce<Pod>('/api/v1/pods', {
    query: { fieldSelector: `spec.nodeName=${node}` }, resourceVersion: startRv, timeoutSeconds: 300, signal: refCtl.signal,
    onEvent: (e: WatchEvent<Pod>) => {
      const name = e.object.metadata.name ?? '';
      ref.set(name, [...(ref.get(name) ?? []), `${e.type}@${e.object.metadata.resourceVersion}`]);
    },
  });

  // Churn: creates, label updates and deletes in a bounded loop, cutting the informer's socket every 5 writes.
  const written = new Map<string, string[]>(); // pod → RVs our own create/update calls returned
  const live: string[] = [];
  let seq = 0;
  let cuts = 0;
  for (let step = 0; step < 60; step++) {
    const r = (step * 7919) % 10;
    if (live.length < 3 || (r < 4 && live.length < 8)) {
      const name = `churn-${seq++}`;
      const p = await admin.create<Pod>(PODS, podBody(name, node));
      written.set(name, [p.metadata.resourceVersion ?? '']);
      live.push(name);
    } else if (r < 8) {
      const name = live[step % live.length] ?? '';
      const p = await admin.patch<Pod>(`${PODS}/${name}`, { metadata: { labels: { step: String(step) } } }, 'merge');
      written.get(name)?.push(p.metadata.resourceVersion ?? '');
    } else {
      const name = live.splice(step % live.length, 1)[0] ?? '';
      await deletePod(admin, name);
    }
    if (step % 5 === 4) {
      await waitUntil('the informer to re-open its watch', () => sockets.at(-1)?.socket.destroyed === false, 40_000);
      sockets.at(-1)?.socket.destroy();
      cuts++;
    }
    if (step % 3 === 0) await sleep(20);
  }
  const truth = await admin.list<Pod>('/api/v1/pods', { query: { fieldSelector: `spec.nodeName=${node}` } });
  await waitUntil('the informer store to match a fresh LIST', () =>
    JSON.stringify(fingerprint(inf.list())) === JSON.stringify(fingerprint(truth.items)));
  await waitUntil('the reference watch to catch up', () => [...got.keys()].every((k) => (ref.get(k)?.length ?? 0) >= (got.get(k)?.length ?? 0)));
  refCtl.abort();
  await refDone;

  assert.equal(cuts, 12);
  await waitUntil('the re-watch after the last cut', () => inf.stats().watches > cuts);
  assert.ok(inf.stats().watches > cuts, `the informer re-watched after every cut (${inf.stats().watches} watches)`);
  assert.equal(inf.stats().lists, 1, 'resumed without relisting');
  assert.equal(sockets.filter((s) => s.transport !== 'websocket').length, 0);
  for (const [name, rvs] of written) {
    const events = got.get(name) ?? [];
    assert.deepEqual(events, ref.get(name), `pod ${name}: informer events equal the uncut reference stream`);
    const eventRvs = events.map((e) => e.split('@')[1]);
    assert.equal(new Set(eventRvs).size, eventRvs.length, `pod ${name}: no duplicated event`);
    for (const rv of rvs) assert.ok(eventRvs.includes(rv), `pod ${name}: the write at RV ${rv} was delivered`);
    assert.equal(events.filter((e) => e.startsWith('ADDED')).length, 1, `pod ${name}: one add`);
    assert.equal(events.filter((e) => e.startsWith('DELETED')).length, live.includes(name) ? 0 : 1, `pod ${name}: deletes`);
  }
  await inf.stop();
  for (const n of live) await deletePod(admin, n);
});

test('410 Gone: a too-old resourceVersion makes the informer relist and diff its store', async () => {
  // A CRD's watch cache starts when the CRD is created, so resourceVersion 1 is outside its window.
  await admin.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.test.dockerlet.io' },
    spec: {
      group: 'test.dockerlet.io', scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  });
  const path = `/apis/test.dockerlet.io/v1/namespaces/${NS}/widgets`;
  await waitUntil('the CRD to be served', async () => admin.list(path).then(() => true, () => false));
  const widget = (name: string, v: string) => ({ apiVersion: 'test.dockerlet.io/v1', kind: 'Widget', metadata: { name }, spec: { v } });
  for (const n of ['keep', 'upd', 'del']) await admin.create(path, widget(n, '0'));

  const { client, sockets } = tappedClient(cp.adminKubeconfigPath);
  closers.push(() => client.close());
  // Wrap the client: the informer's second watch waits for the test, then asks for resourceVersion 1.
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const direct = await client.watchOnce<KubeObject>(path, { resourceVersion: '1', timeoutSeconds: 5, onEvent: () => undefined });
  assert.equal(direct.reason, 'gone', 'the apiserver answers 410 for resourceVersion 1');
  const wrapped: KubeClient = {
    server: client.server,
    request: (m, p, o) => client.request(m, p, o),
    get: (p, o) => client.get(p, o),
    list: (p, o) => client.list(p, o),
    create: (p, b, o) => client.create(p, b, o),
    update: (p, b, o) => client.update(p, b, o),
    patch: (p, b, t, o) => client.patch(p, b, t, o),
    delete: (p, o) => client.delete(p, o),
    close: () => client.close(),
    watchOnce: async (p, o) => {
      calls++;
      if (calls === 2) {
        await gate;
        return client.watchOnce(p, { ...o, resourceVersion: '1' });
      }
      return client.watchOnce(p, o);
    },
  };
  const inf = createInformer<KubeObject>(wrapped, { path }, { log: silentLogger() });
  const seen: string[] = [];
  inf.on({
    add: (w) => seen.push(`add ${w.metadata.name}`),
    update: (_o, w) => seen.push(`update ${w.metadata.name}`),
    delete: (w) => seen.push(`delete ${w.metadata.name}`),
  });
  const ctl = new AbortController();
  closers.push(() => inf.stop());
  const before = sockets.length;
  await inf.start(ctl.signal);
  assert.deepEqual(seen.sort(), ['add del', 'add keep', 'add upd']);
  seen.length = 0;
  await waitUntil('the first watch to open', () => sockets.length > before);
  sockets.at(-1)?.socket.destroy();
  await waitUntil('the informer to try again', () => calls >= 2);
  // While the informer is away: the truth moves on.
  await admin.create(path, widget('new', '1'));
  await admin.patch(`${path}/upd`, { spec: { v: '2' } }, 'merge');
  await admin.delete(`${path}/del`);
  release();
  // stats().lists counts a list when it starts: also wait for the diff it hands out.
  await waitUntil('the relist after 410', () => inf.stats().relistsAfterGone === 1 && inf.stats().lists === 2 && seen.length >= 3);
  assert.deepEqual(seen, ['delete del', 'add new', 'update upd']);
  const fresh = await admin.list<KubeObject>(path);
  assert.deepEqual(fingerprint(inf.list()), fingerprint(fresh.items));
  await inf.stop();
});

test('bookmarks arrive and move the informer resourceVersion forward', async () => {
  const { client, sockets } = await nodeClient('node-bm');
  await ensureNode(admin, 'node-elsewhere');
  const list = await client.list<Pod>('/api/v1/pods', { query: { fieldSelector: 'spec.nodeName=node-bm' } });
  const events: WatchEvent<Pod>[] = [];
  // The apiserver sends a bookmark 2 s before a watch's deadline (and about every minute otherwise).
  const watching = client.watchOnce<Pod>('/api/v1/pods', {
    query: { fieldSelector: 'spec.nodeName=node-bm' }, resourceVersion: list.metadata.resourceVersion,
    allowWatchBookmarks: true, timeoutSeconds: 6, onEvent: (e) => events.push(e),
  });
  await sleep(500);
  const other = await admin.create<Pod>(PODS, podBody('bm-elsewhere', 'node-elsewhere')); // filtered out for node-bm
  const end = await watching;
  assert.equal(end.reason, 'timeout');
  const bms = events.filter((e) => e.type === 'BOOKMARK');
  assert.ok(bms.length >= 1, `a bookmark arrived (events: ${events.map((e) => e.type).join(',') || 'none'})`);
  assert.equal(events.length, bms.length, 'only bookmarks: the other node\'s pod was filtered out');
  // (RVs are opaque to the product code; here they are etcd revisions, so the test may compare them.)
  assert.ok(BigInt(end.lastResourceVersion ?? '0') >= BigInt(other.metadata.resourceVersion ?? ''), 'the bookmark carries progress past the filtered event');

  const inf = createInformer<Pod>(client, { path: '/api/v1/pods', fieldSelector: 'spec.nodeName=node-bm', timeoutSeconds: 5 }, { log: silentLogger() });
  const ctl = new AbortController();
  closers.push(() => inf.stop());
  const opened = sockets.length;
  await inf.start(ctl.signal);
  const synced = inf.lastResourceVersion();
  // (The write must happen while the watch is open: progress replayed at watch start brings no bookmark.)
  await waitUntil('the informer watch to open', () => sockets.length > opened);
  const again = await admin.patch<Pod>(`${PODS}/bm-elsewhere`, { metadata: { labels: { x: 'y' } } }, 'merge');
  await waitUntil('a bookmark to advance the informer',
    () => BigInt(inf.lastResourceVersion() ?? '0') >= BigInt(again.metadata.resourceVersion ?? ''), 15_000);
  assert.notEqual(synced, again.metadata.resourceVersion);
  assert.equal(inf.list().length, 0);
  await inf.stop();
  await deletePod(admin, 'bm-elsewhere');
});

test('chunked HTTP watch (forced) delivers events', async () => {
  const { client, sockets } = await nodeClient('node-http', 'http');
  const inf = createInformer<Pod>(client, { path: '/api/v1/pods', fieldSelector: 'spec.nodeName=node-http' }, { log: silentLogger() });
  const adds: string[] = [];
  inf.on({ add: (p) => adds.push(p.metadata.name ?? '') });
  const ctl = new AbortController();
  closers.push(() => inf.stop());
  await inf.start(ctl.signal);
  await admin.create(PODS, podBody('h1', 'node-http'));
  await waitUntil('the add over chunked HTTP', () => adds.includes('h1'));
  assert.ok(sockets.length >= 1 && sockets.every((s) => s.transport === 'http'));
  assert.equal(client.watchTransport, 'http');
  // Cut it too: the HTTP stream resumes the same way.
  sockets.at(-1)?.socket.destroy();
  await admin.patch(`${PODS}/h1`, { metadata: { labels: { after: 'cut' } } }, 'merge');
  await waitUntil('the update after the cut', () => inf.get(`${NS}/h1`)?.metadata.labels?.after === 'cut');
  assert.equal(inf.stats().lists, 1);
  await inf.stop();
  await deletePod(admin, 'h1');
});

test('broken kubeconfig, unreachable server and wrong CA: one clear line each, with the right code', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dkl-kube-err-'));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const adminText = await readFile(cp.adminKubeconfigPath, 'utf8');
  const oneLine = (err: unknown, code: string, ...parts: (string | RegExp)[]) => {
    assert.ok(err instanceof DockerletError, String(err));
    assert.equal(err.code, code, err.message);
    assert.ok(!err.message.includes('\n'), err.message);
    for (const p of parts) assert.match(err.message, typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')) : p);
    return true;
  };

  // A kubeconfig whose client key points at a missing file.
  const broken = join(dir, 'broken.kubeconfig');
  await writeFile(broken, adminText.replace(/client-key-data: .*/, 'client-key: /nonexistent/admin.key'));
  assert.throws(() => loadKubeconfig(broken), (e) => oneLine(e, ErrorCodes.KUBECONFIG_INVALID,
    `kubeconfig ${broken}: users[0].user.client-key: file /nonexistent/admin.key not found`));

  // A closed local port.
  const port = await new Promise<number>((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const closedPath = join(dir, 'closed.kubeconfig');
  await writeFile(closedPath, adminText.replace(/server: .*/, `server: https://127.0.0.1:${port}`));
  const closed = createKubeClient(loadKubeconfig(closedPath), { log: silentLogger() });
  closers.push(() => closed.close());
  const unreachable = [ErrorCodes.KUBE_UNREACHABLE, `cannot reach https://127.0.0.1:${port}: connect ECONNREFUSED`] as const;
  await assert.rejects(closed.get('/version'), (e) => oneLine(e, ...unreachable));
  await assert.rejects(closed.watchOnce('/api/v1/pods', { onEvent: () => undefined }), (e) => oneLine(e, ...unreachable));

  // The right server, the wrong CA.
  const otherCa = await createCa(join(dir, 'other-ca'), 'some-other-ca');
  const wrongCaPath = join(dir, 'wrong-ca.kubeconfig');
  await writeFile(wrongCaPath, adminText.replace(/certificate-authority-data: .*/, `certificate-authority-data: ${Buffer.from(otherCa.certPem).toString('base64')}`));
  const wrong = createKubeClient(loadKubeconfig(wrongCaPath), { log: silentLogger() });
  closers.push(() => wrong.close());
  const tls = [ErrorCodes.KUBE_TLS, `TLS verification of ${cp.server}: `, /(self-signed|issuer|verify).*\(is certificate-authority right\?\)$/] as const;
  await assert.rejects(wrong.get('/version'), (e) => oneLine(e, ...tls));
  await assert.rejects(wrong.watchOnce('/api/v1/pods', { onEvent: () => undefined }), (e) => oneLine(e, ...tls));
});
