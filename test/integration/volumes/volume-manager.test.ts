// VolumeManager against the real filesystem (as root): tmpfs mounts, the ..data swap, modes, teardown.
// The KubeClient is an in-test object serving configmaps/secrets/token requests from memory.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ConfigMap, Pod, Secret, TokenRequest } from '../../../kube/api.js';
import type { KubeClient } from '../../../kube/types.js';
import { FakeClock } from '../../../lib/clock.js';
import { DockerletError, ErrorCodes, isCode } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';
import { DEFAULT_OBJECT_TTL_MS, VolumeManager } from '../../../agent/volumes/manager.js';
import { mountsUnder, readMounts } from '../../../agent/volumes/mounts-host.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

class FakeApi {
  configMaps = new Map<string, ConfigMap>();
  secrets = new Map<string, Secret>();
  tokenRequests: { path: string; body: TokenRequest }[] = [];
  constructor(private readonly clock: FakeClock) {}
  client(): KubeClient {
    const notImpl = () => { throw new Error('not implemented in this fake'); };
    const notFound = (p: string) => new DockerletError(ErrorCodes.KUBE_API, `GET ${p}: 404 NotFound`, { details: { status: 404, reason: 'NotFound' } });
    return {
      server: 'https://fake',
      get: async <T>(p: string): Promise<T> => {
        const m = /^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|secrets)\/([^/]+)$/.exec(p);
        const store = m?.[2] === 'configmaps' ? this.configMaps : this.secrets;
        const obj = m ? store.get(`${m[1]}/${m[3]}`) : undefined;
        if (!obj) throw notFound(p);
        return structuredClone(obj) as T;
      },
      create: async <T>(p: string, body: unknown): Promise<T> => {
        assert.match(p, /^\/api\/v1\/namespaces\/[^/]+\/serviceaccounts\/[^/]+\/token$/);
        const req = body as TokenRequest;
        this.tokenRequests.push({ path: p, body: structuredClone(req) });
        const ttl = req.spec.expirationSeconds ?? 3600;
        return { ...req, status: { token: `token-${this.tokenRequests.length}`, expirationTimestamp: new Date(this.clock.now() + ttl * 1000).toISOString() } } as T;
      },
      request: notImpl, list: notImpl, update: notImpl, patch: notImpl, delete: notImpl, watchOnce: notImpl, close: () => undefined,
    } as KubeClient;
  }
}

let root = '';
const clock = new FakeClock(Date.UTC(2025, 0, 1));
const api = new FakeApi(clock);
let vm: VolumeManager;
const uids: string[] = [];

function mkPod(uid: string, volumes: Pod['spec']['volumes'], extra: Partial<Pod['spec']> = {}): Pod {
  uids.push(uid);
  return { metadata: { name: `pod-${uid}`, namespace: 'ns1', uid }, spec: { containers: [{ name: 'c' }], volumes, ...extra } };
}

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dkl-vol-'));
  vm = new VolumeManager({ rootDir: root, client: api.client(), clock, log: silentLogger(), nodeName: 'n1', allocatable: { cpuMillis: 2000, memoryBytes: 4 << 30 } });
  api.configMaps.set('ns1/app', { metadata: { name: 'app', namespace: 'ns1' }, data: { 'app.conf': 'v1', other: 'o' } });
  api.configMaps.set('ns1/kube-root-ca.crt', { metadata: { name: 'kube-root-ca.crt' }, data: { 'ca.crt': 'CA PEM' } });
  api.secrets.set('ns1/creds', { metadata: { name: 'creds' }, data: { user: b64('admin'), pass: b64('s3cret') } });
});

after(async () => {
  for (const uid of uids) await vm.teardown(uid).catch(() => undefined);
  for (const m of await mountsUnder([root])) execFileSync('umount', ['-l', m.mountpoint]);
  await rm(root, { recursive: true, force: true });
});

async function mountAt(p: string) {
  return (await readMounts()).find((m) => m.mountpoint === p);
}

test('emptyDir: disk-backed dir, or a tmpfs with the size limit for medium Memory', async () => {
  const pod = mkPod('u-empty', [{ name: 'scratch', emptyDir: {} }, { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } }]);
  const prepared = await vm.setup(pod);
  const scratch = prepared.get('scratch')!.hostPath;
  const mem = prepared.get('mem')!.hostPath;
  assert.equal(scratch, path.join(root, 'pods', 'u-empty', 'volumes', 'kubernetes.io~empty-dir', 'scratch'));
  assert.equal((await stat(scratch)).mode & 0o777, 0o777);
  assert.equal(await mountAt(scratch), undefined);
  const m = await mountAt(mem);
  assert.equal(m?.fstype, 'tmpfs');
  assert.match(m!.options, /size=16384k/);
  // idempotent: a second setup does not stack another tmpfs
  await vm.setup(pod);
  assert.equal((await readMounts()).filter((x) => x.mountpoint === mem).length, 1);
});

test('configMap: files via ..data, update swaps atomically on refresh, unchanged refresh is a no-op', async () => {
  const pod = mkPod('u-cm', [
    { name: 'cfg', configMap: { name: 'app' } },
    { name: 'one', configMap: { name: 'app', items: [{ key: 'app.conf', path: 'conf/app.conf', mode: 0o600 }] } },
  ]);
  const prepared = await vm.setup(pod);
  const dir = prepared.get('cfg')!.hostPath;
  assert.equal(prepared.get('cfg')!.readOnly, true);
  assert.equal(await readFile(path.join(dir, 'app.conf'), 'utf8'), 'v1');
  assert.equal((await stat(path.join(dir, 'app.conf'))).mode & 0o777, 0o644);
  assert.equal((await stat(path.join(prepared.get('one')!.hostPath, 'conf', 'app.conf'))).mode & 0o777, 0o600);
  const gen1 = await readlink(path.join(dir, '..data'));

  // a subPath bind sees the generation it was created from
  const [sub] = vm.mountsFor(pod, { name: 'c', volumeMounts: [{ name: 'cfg', mountPath: '/etc/app.conf', subPath: 'app.conf' }] }, prepared);
  assert.equal(sub!.hostPath, path.join(dir, gen1, 'app.conf'));

  assert.deepEqual((await vm.refresh(pod)).updated, []);
  assert.equal(await readlink(path.join(dir, '..data')), gen1);

  api.configMaps.set('ns1/app', { metadata: { name: 'app' }, data: { 'app.conf': 'v2', added: 'a' } });
  // A refresh takes the shared copy while it is younger than the object TTL (the Cache strategy)...
  clock.advance(1500);
  assert.deepEqual((await vm.refresh(pod)).updated, []);
  // ...a pod set up now gets a copy fetched after its set-up began...
  const late = await vm.setup(mkPod('u-cm-late', [{ name: 'cfg', configMap: { name: 'app' } }]));
  assert.equal(await readFile(path.join(late.get('cfg')!.hostPath, 'app.conf'), 'utf8'), 'v2');
  // ...which the next refresh of the first pod uses too.
  const res = await vm.refresh(pod);
  assert.deepEqual(res.updated.sort(), ['cfg', 'one']);
  const gen2 = await readlink(path.join(dir, '..data'));
  assert.notEqual(gen2, gen1);
  assert.equal(await readFile(path.join(dir, 'app.conf'), 'utf8'), 'v2');
  assert.equal(await readFile(path.join(dir, 'added'), 'utf8'), 'a');
  await assert.rejects(lstat(path.join(dir, 'other')), 'removed key disappears');
  assert.equal(existsSync(path.join(dir, gen1)), false, 'old generation removed');
});

test('secret: tmpfs-backed, 0644 by default, defaultMode and fsGroup honoured', async () => {
  const pod = mkPod('u-sec', [
    { name: 'plain', secret: { secretName: 'creds' } },
    { name: 'strict', secret: { secretName: 'creds', defaultMode: 0o400, items: [{ key: 'pass', path: 'password' }] } },
  ], { securityContext: { fsGroup: 2345 } });
  const prepared = await vm.setup(pod);
  const plain = prepared.get('plain')!.hostPath;
  assert.equal((await mountAt(plain))?.fstype, 'tmpfs');
  assert.equal(await readFile(path.join(plain, 'pass'), 'utf8'), 's3cret');
  const st = await stat(path.join(plain, 'user'));
  assert.equal(st.mode & 0o777, 0o644);
  assert.equal(st.gid, 2345);
  const strict = await stat(path.join(prepared.get('strict')!.hostPath, 'password'));
  assert.equal(strict.mode & 0o777, 0o440, '0400 plus group read for the fsGroup');

  const noGroup = mkPod('u-sec2', [{ name: 's', secret: { secretName: 'creds', defaultMode: 0o400 } }]);
  const p2 = await vm.setup(noGroup);
  assert.equal((await stat(path.join(p2.get('s')!.hostPath, 'user'))).mode & 0o777, 0o400);
});

test('projected: bound token, kube-root-ca.crt and namespace; rotation after 80% of the TTL', async () => {
  const pod = mkPod('u-proj', [{
    name: 'kube-api-access',
    projected: {
      sources: [
        { serviceAccountToken: { path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  }], { serviceAccountName: 'builder' });
  const before = api.tokenRequests.length;
  const dir = (await vm.setup(pod)).get('kube-api-access')!.hostPath;
  assert.equal((await mountAt(dir))?.fstype, 'tmpfs');
  assert.equal(await readFile(path.join(dir, 'ca.crt'), 'utf8'), 'CA PEM');
  assert.equal(await readFile(path.join(dir, 'namespace'), 'utf8'), 'ns1');
  const firstToken = await readFile(path.join(dir, 'token'), 'utf8');
  assert.equal(api.tokenRequests.length, before + 1);
  const req = api.tokenRequests.at(-1)!;
  assert.equal(req.path, '/api/v1/namespaces/ns1/serviceaccounts/builder/token');
  assert.deepEqual(req.body.spec, {
    audiences: [], expirationSeconds: 3607, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'pod-u-proj', uid: 'u-proj' },
  });
  assert.equal(vm.nextRefreshDelay(pod), 60_000);

  clock.advance(60_000);
  assert.deepEqual((await vm.refresh(pod)).updated, []);
  assert.equal(api.tokenRequests.length, before + 1, 'young token reused');

  clock.advance(Math.ceil(3607 * 0.8) * 1000);
  assert.deepEqual((await vm.refresh(pod)).updated, ['kube-api-access']);
  assert.equal(api.tokenRequests.length, before + 2);
  assert.notEqual(await readFile(path.join(dir, 'token'), 'utf8'), firstToken);
});

test('hostPath type checks', async () => {
  const base = path.join(root, 'host');
  await mkdir(base, { recursive: true });
  await writeFile(path.join(base, 'file'), 'x');
  const ok = mkPod('u-host', [
    { name: 'mk', hostPath: { path: path.join(base, 'made', 'deep'), type: 'DirectoryOrCreate' } },
    { name: 'f', hostPath: { path: path.join(base, 'file'), type: 'File' } },
    { name: 'fc', hostPath: { path: path.join(base, 'new-file'), type: 'FileOrCreate' } },
    { name: 'any', hostPath: { path: path.join(base, 'whatever') } },
  ]);
  const prepared = await vm.setup(ok);
  assert.equal((await stat(path.join(base, 'made', 'deep'))).isDirectory(), true);
  assert.equal((await stat(path.join(base, 'new-file'))).isFile(), true);
  assert.equal(prepared.get('f')!.hostPath, path.join(base, 'file'));
  const cases: [Pod['spec']['volumes'], RegExp][] = [
    [[{ name: 'd', hostPath: { path: path.join(base, 'missing'), type: 'Directory' } }], /volume "d" : hostPath type check failed: .*missing is not a directory/],
    [[{ name: 'f', hostPath: { path: path.join(base, 'made'), type: 'File' } }], /is not a file/],
    [[{ name: 's', hostPath: { path: path.join(base, 'file'), type: 'Socket' } }], /is not a socket file/],
  ];
  for (const [vols, re] of cases) {
    await assert.rejects(vm.setup(mkPod(`u-host-bad-${uids.length}`, vols)), (e: Error) => isCode(e, ErrorCodes.VOLUME) && re.test(e.message));
  }
});

test('missing sources: VOLUME error naming volume and object, optional ones are empty; PVC unsupported', async () => {
  await assert.rejects(vm.setup(mkPod('u-miss', [{ name: 'cfg', configMap: { name: 'nope' } }])), (e: Error) =>
    isCode(e, ErrorCodes.VOLUME) && e.message === 'MountVolume.SetUp failed for volume "cfg" : configmap "nope" not found');
  await assert.rejects(vm.setup(mkPod('u-miss2', [{ name: 'sec', secret: { secretName: 'nope' } }])), /volume "sec" : secret "nope" not found/);
  await assert.rejects(vm.setup(mkPod('u-miss3', [{ name: 'k', configMap: { name: 'app', items: [{ key: 'zzz', path: 'z' }] } }])),
    /configmap references non-existent config key: zzz/);
  const opt = await vm.setup(mkPod('u-opt', [{ name: 'o', configMap: { name: 'nope', optional: true } }]));
  assert.equal(existsSync(path.join(opt.get('o')!.hostPath, '..data')), true);
  await assert.rejects(vm.setup(mkPod('u-pvc', [{ name: 'data', persistentVolumeClaim: { claimName: 'c' } }])),
    (e: Error) => isCode(e, ErrorCodes.VOLUME) && /volume "data" : .*persistentVolumeClaim.*not supported/.test(e.message));
});

test('refresh keeps the old content when the source disappears', async () => {
  api.secrets.set('ns1/temp', { metadata: { name: 'temp' }, data: { k: b64('v') } });
  const pod = mkPod('u-keep', [{ name: 't', secret: { secretName: 'temp' } }]);
  const dir = (await vm.setup(pod)).get('t')!.hostPath;
  api.secrets.delete('ns1/temp');
  clock.advance(DEFAULT_OBJECT_TTL_MS + 1); // past the shared copy's TTL
  const res = await vm.refresh(pod);
  assert.deepEqual(res.errors, [{ volume: 't', message: 'secret "temp" not found' }]);
  assert.equal(await readFile(path.join(dir, 'k'), 'utf8'), 'v');
});

test('teardown unmounts every tmpfs and removes the pod directory; idempotent', async () => {
  const pod = mkPod('u-down', [
    { name: 'mem', emptyDir: { medium: 'Memory' } }, { name: 's', secret: { secretName: 'creds' } }, { name: 'd', emptyDir: {} },
  ]);
  await vm.setup(pod);
  const podDir = vm.podDir('u-down');
  assert.equal((await mountsUnder([podDir])).length, 2);
  await vm.teardown('u-down');
  assert.deepEqual(await mountsUnder([podDir]), []);
  assert.equal(existsSync(podDir), false);
  await vm.teardown('u-down');
  await vm.teardown('never-existed');
});
