// MirrorPodManager against an in-memory fake API (the real apiserver is covered by the integration test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { List, Pod } from '../../../kube/api.js';
import { apiErrorFromStatus } from '../../../kube/errors.js';
import type { KubeClient, RequestOptions } from '../../../kube/types.js';
import { silentLogger } from '../../../lib/log.js';
import { parseStaticPod } from '../../../agent/static/source.js';
import { MirrorPodManager, isMirrorPod, mirrorForbiddenReason } from '../../../agent/static/mirror.js';

const NODE = 'node1';

class FakeApi {
  pods = new Map<string, Pod>();
  calls: string[] = [];
  client(): KubeClient {
    const notImpl = () => { throw new Error('not implemented'); };
    const { pods, calls } = this;
    const api = { pods, calls };
    return {
      server: 'fake',
      request: notImpl,
      update: notImpl,
      patch: notImpl,
      watchOnce: notImpl,
      close: () => undefined,
      async list<T>(path: string, opts?: RequestOptions) {
        api.calls.push(`LIST ${path} ${String(opts?.query?.fieldSelector)}`);
        return { metadata: {}, items: [...api.pods.values()].filter((p) => p.spec.nodeName === NODE) } as unknown as List<T & Pod>;
      },
      async get<T>(path: string) {
        const p = api.pods.get(path.split('/').slice(-3).filter((_, i) => i !== 1).join('/'));
        if (!p) throw apiErrorFromStatus('GET', path, { code: 404, reason: 'NotFound' });
        return p as T;
      },
      async create<T>(path: string, body: unknown) {
        const pod = structuredClone(body) as Pod;
        const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
        api.calls.push(`CREATE ${key}`);
        if (api.pods.has(key)) throw apiErrorFromStatus('POST', path, { code: 409, reason: 'AlreadyExists' });
        pod.metadata.uid = randomUUID();
        api.pods.set(key, pod);
        return pod as T;
      },
      async delete<T>(path: string, opts?: RequestOptions) {
        const parts = path.split('/');
        const key = `${parts[4]}/${parts[6]}`;
        api.calls.push(`DELETE ${key} ${JSON.stringify(opts?.body)}`);
        const cur = api.pods.get(key);
        if (!cur) throw apiErrorFromStatus('DELETE', path, { code: 404, reason: 'NotFound' });
        const pre = (opts?.body as { preconditions?: { uid?: string } } | undefined)?.preconditions?.uid;
        if (pre && pre !== cur.metadata.uid) throw apiErrorFromStatus('DELETE', path, { code: 409, reason: 'Conflict' });
        api.pods.delete(key);
        return {} as T;
      },
    } as KubeClient;
  }
}

function staticPod(name: string, extra = ''): Pod {
  const text = `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, labels: {app: ${name}}}\nspec:\n  containers:\n  - {name: c, image: "dockerlet/busybox:1.36"${extra}}\n`;
  return parseStaticPod(text, `/etc/manifests/${name}.yaml`, NODE, '2025-01-01T00:00:00.000Z');
}

function setup(nodeUid: string | null = 'node-uid-1') {
  const api = new FakeApi();
  const targets: string[] = [];
  const events: string[] = [];
  const mgr = new MirrorPodManager({
    client: api.client(), nodeName: NODE, node: () => (nodeUid ? { uid: nodeUid } : undefined),
    status: { setTarget: (uid, name, apiUid) => targets.push(`${uid} ${name} ${apiUid}`) },
    events: { event: (obj, type, reason, message) => events.push(`${type} ${reason} ${obj.name}: ${message}`) },
    log: silentLogger(),
  });
  return { api, mgr, targets, events };
}

test('creates a mirror pod with the config.mirror annotation and a Node controller reference', async () => {
  const { api, mgr, targets } = setup();
  const sp = staticPod('web');
  await mgr.sync([sp]);
  const m = api.pods.get('default/web-node1');
  assert.ok(m);
  assert.ok(isMirrorPod(m));
  assert.equal(m.metadata.annotations?.['kubernetes.io/config.mirror'], sp.metadata.uid);
  assert.equal(m.metadata.annotations?.['kubernetes.io/config.source'], 'file');
  assert.equal(m.metadata.labels?.app, 'web');
  assert.deepEqual(m.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: 'node-uid-1', controller: true }]);
  assert.equal(m.spec.nodeName, NODE);
  assert.notEqual(m.metadata.uid, sp.metadata.uid);
  assert.deepEqual(targets, [`${sp.metadata.uid} web-node1 ${m.metadata.uid}`]);
  assert.deepEqual(mgr.mirrorFor(sp.metadata.uid!), { namespace: 'default', name: 'web-node1', uid: m.metadata.uid });
  assert.equal(api.calls[0], `LIST /api/v1/pods spec.nodeName=${NODE}`);

  api.calls.length = 0;
  await mgr.sync([sp]);
  assert.deepEqual(api.calls.filter((c) => !c.startsWith('LIST')), [], 'an up-to-date mirror is left alone');
});

test('a new hash or a deletion timestamp replaces the mirror; a vanished static pod deletes it', async () => {
  const { api, mgr } = setup();
  await mgr.sync([staticPod('web')]);
  const first = api.pods.get('default/web-node1')!;
  const edited = staticPod('web', ', command: [sleep, "1"]');
  await mgr.sync([edited]);
  const second = api.pods.get('default/web-node1')!;
  assert.notEqual(second.metadata.uid, first.metadata.uid);
  assert.equal(second.metadata.annotations?.['kubernetes.io/config.mirror'], edited.metadata.uid);
  assert.ok(api.calls.some((c) => c.startsWith('DELETE default/web-node1') && c.includes('"gracePeriodSeconds":0') && c.includes(first.metadata.uid!)));

  second.metadata.deletionTimestamp = '2025-01-01T00:00:00Z';
  await mgr.sync([edited]);
  const third = api.pods.get('default/web-node1')!;
  assert.notEqual(third.metadata.uid, second.metadata.uid);
  assert.equal(third.metadata.deletionTimestamp, undefined);

  await mgr.sync([]);
  assert.equal(api.pods.size, 0);
  assert.equal(mgr.mirrorFor(edited.metadata.uid!), undefined);
});

test('NodeRestriction-forbidden references: no mirror, one warning Event, the pod is not dropped', async () => {
  const { api, mgr, events, targets } = setup();
  const sp = staticPod('cfg', ', envFrom: [{configMapRef: {name: settings}}]');
  const ok = staticPod('ok');
  await mgr.sync([sp, ok]);
  await mgr.sync([sp, ok]);
  assert.equal(api.pods.has('default/cfg-node1'), false);
  assert.equal(api.pods.has('default/ok-node1'), true);
  assert.equal(events.length, 1);
  assert.match(events[0]!, /^Warning MirrorPodForbidden cfg-node1: mirror pod for static pod default\/cfg-node1 cannot be created: container c references config map "settings" \(envFrom\)/);
  assert.equal(targets.length, 2, 'only ok-node1 is retargeted (twice, idempotently)');
});

test('forbidden-reference detection covers service accounts, secrets, projected tokens and PVCs', () => {
  const sa = staticPod('a');
  sa.spec.serviceAccountName = 'builder';
  assert.match(mirrorForbiddenReason(sa)!, /service account "builder"/);
  const sec = staticPod('b', ', env: [{name: P, valueFrom: {secretKeyRef: {name: pw, key: k}}}]');
  assert.match(mirrorForbiddenReason(sec)!, /secret "pw"/);
  const tok = staticPod('c');
  tok.spec.volumes = [{ name: 't', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }];
  assert.match(mirrorForbiddenReason(tok)!, /service account token/);
  const pvc = staticPod('d');
  pvc.spec.volumes = [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }];
  assert.match(mirrorForbiddenReason(pvc)!, /persistent volume claim "data"/);
  assert.equal(mirrorForbiddenReason(staticPod('e')), undefined);
});

test('waits for the Node; never deletes a non-mirror pod that holds the name', async () => {
  const early = setup(null);
  await early.mgr.sync([staticPod('web')]);
  assert.deepEqual(early.api.calls, [], 'no API calls before the Node is registered');

  const { api, mgr, events } = setup();
  const squatter: Pod = { metadata: { namespace: 'default', name: 'web-node1', uid: 'u-1' }, spec: { nodeName: NODE, containers: [{ name: 'x' }] } };
  api.pods.set('default/web-node1', squatter);
  await mgr.sync([staticPod('web')]);
  assert.equal(api.pods.get('default/web-node1'), squatter);
  assert.ok(events.some((e) => e.includes('FailedCreateMirrorPod') && e.includes('not a mirror pod')));
});

test('start() resyncs periodically from the staticPods callback; trigger() runs a pass now', async () => {
  const api = new FakeApi();
  let pods: Pod[] = [];
  const mgr = new MirrorPodManager({
    client: api.client(), nodeName: NODE, node: () => ({ uid: 'n' }), status: { setTarget: () => undefined },
    staticPods: () => pods, log: silentLogger(), resyncMs: 3_600_000,
  });
  const ac = new AbortController();
  await mgr.start(ac.signal);
  try {
    pods = [staticPod('late')];
    mgr.trigger();
    for (let i = 0; i < 100 && !api.pods.has('default/late-node1'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(api.pods.has('default/late-node1'));
  } finally {
    ac.abort();
    await mgr.stop();
  }
});
