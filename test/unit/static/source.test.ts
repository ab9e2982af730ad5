// The static pod source over a real temp directory: defaulting, stable UIDs, edits as delete+add,
// ignored files, and a broken file never disturbing the other pods.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Pod } from '../../../kube/api.js';
import { FakeClock } from '../../../lib/clock.js';
import { createLogger } from '../../../lib/log.js';
import { defaultPullPolicy } from '../../../agent/static/defaults.js';
import { StaticPodSource } from '../../../agent/static/source.js';

const NODE = 'Node-A';
let dir: string;
let logs: string[];

function manifest(name: string, extra = ''): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  containers:
    - name: main
      image: dockerlet/busybox:1.36
      command: ["sleep", "3600"]${extra}
`;
}

function source(): { src: StaticPodSource; events: string[] } {
  const stream = new Writable({ write(chunk, _enc, cb) { logs.push(String(chunk)); cb(); } });
  const log = createLogger({ level: 'debug', destination: stream });
  const src = new StaticPodSource({ dir, nodeName: NODE, clock: new FakeClock(), log });
  const events: string[] = [];
  src.on({
    add: (p) => events.push(`add ${p.metadata.name} ${p.metadata.uid}`),
    update: (_o, n) => events.push(`update ${n.metadata.name} ${n.metadata.uid}`),
    delete: (p) => events.push(`delete ${p.metadata.name} ${p.metadata.uid}`),
  });
  return { src, events };
}

const byName = (src: StaticPodSource, name: string): Pod | undefined => src.list().find((p) => p.metadata.name === name);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dockerlet-static-'));
  logs = [];
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('upstream defaulting, name suffix, binding and annotations', async () => {
  await writeFile(join(dir, 'web.yaml'), manifest('web', `
      ports: [{ containerPort: 80 }]
  initContainers:
    - name: init
      image: example.com:5000/tools/init`));
  const { src } = source();
  await src.rescan();
  const pod = byName(src, 'web-node-a');
  assert.ok(pod, 'pod present under <name>-<lower-case node>');
  assert.equal(pod.metadata.namespace, 'default');
  assert.equal(pod.spec.nodeName, NODE);
  assert.equal(pod.spec.restartPolicy, 'Always');
  assert.equal(pod.spec.terminationGracePeriodSeconds, 30);
  assert.equal(pod.spec.dnsPolicy, 'ClusterFirst');
  assert.deepEqual(pod.spec.tolerations, [{ operator: 'Exists', effect: 'NoExecute' }]);
  const c = pod.spec.containers[0]!;
  assert.equal(c.terminationMessagePath, '/dev/termination-log');
  assert.equal(c.terminationMessagePolicy, 'File');
  assert.equal(c.imagePullPolicy, 'IfNotPresent');
  assert.equal(c.ports?.[0]?.protocol, 'TCP');
  assert.equal(pod.spec.initContainers?.[0]?.imagePullPolicy, 'Always', 'no tag (registry port is not a tag) → Always');
  assert.match(pod.metadata.uid!, /^[0-9a-f]{32}$/);
  const a = pod.metadata.annotations!;
  assert.equal(a['kubernetes.io/config.source'], 'file');
  assert.equal(a['kubernetes.io/config.hash'], pod.metadata.uid);
  assert.ok(!Number.isNaN(Date.parse(a['kubernetes.io/config.seen']!)), 'config.seen is a timestamp');
});

test('pull policy defaults by tag', () => {
  assert.equal(defaultPullPolicy('busybox'), 'Always');
  assert.equal(defaultPullPolicy('busybox:latest'), 'Always');
  assert.equal(defaultPullPolicy('busybox:1.36'), 'IfNotPresent');
  assert.equal(defaultPullPolicy('localhost:5000/busybox'), 'Always');
  assert.equal(defaultPullPolicy('localhost:5000/busybox:1'), 'IfNotPresent');
  assert.equal(defaultPullPolicy(`busybox@sha256:${'a'.repeat(64)}`), 'IfNotPresent');
});

test('UID is stable across instances and cosmetic edits, and changes when content does', async () => {
  const file = join(dir, 'web.yaml');
  await writeFile(file, manifest('web'));
  const first = source();
  await first.src.rescan();
  const uid1 = byName(first.src, 'web-node-a')!.metadata.uid;
  const again = source();
  await again.src.rescan();
  assert.equal(byName(again.src, 'web-node-a')!.metadata.uid, uid1, 'same file → same uid in a new process');

  // Same object written as JSON with another key order: same UID, no events.
  const json = { kind: 'Pod', spec: { containers: [{ command: ['sleep', '3600'], image: 'dockerlet/busybox:1.36', name: 'main' }] }, metadata: { name: 'web' }, apiVersion: 'v1' };
  await writeFile(file, JSON.stringify(json, null, 4));
  first.events.length = 0;
  await first.src.rescan();
  assert.deepEqual(first.events, []);
  assert.equal(byName(first.src, 'web-node-a')!.metadata.uid, uid1);

  // A real edit: the old pod is deleted, then the new one (new UID) added.
  await writeFile(file, manifest('web').replace('3600', '7200'));
  await first.src.rescan();
  const uid2 = byName(first.src, 'web-node-a')!.metadata.uid;
  assert.notEqual(uid2, uid1);
  assert.deepEqual(first.events, [`delete web-node-a ${uid1}`, `add web-node-a ${uid2}`]);
  assert.equal(first.src.list().length, 1);
});

test('dotfiles, other extensions and subdirectories are ignored; removal deletes', async () => {
  await writeFile(join(dir, '.web.yaml.swp'), manifest('hidden'));
  await writeFile(join(dir, '.hidden.yaml'), manifest('hidden2'));
  await writeFile(join(dir, 'web.yaml~'), manifest('backup'));
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'deep.yaml'), manifest('deep'));
  await writeFile(join(dir, 'plain'), manifest('plain'));
  await writeFile(join(dir, 'j.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'j' }, spec: { containers: [{ name: 'c', image: 'x:1' }] } }));
  const { src, events } = source();
  await src.rescan();
  assert.deepEqual(src.list().map((p) => p.metadata.name).sort(), ['j-node-a', 'plain-node-a']);
  await unlink(join(dir, 'plain'));
  await src.rescan();
  assert.deepEqual(src.list().map((p) => p.metadata.name), ['j-node-a']);
  assert.equal(events.at(-1)?.startsWith('delete plain-node-a '), true);
});

test('a YAML syntax error in one file leaves the other pods intact and keeps its last good pod', async () => {
  await writeFile(join(dir, 'a.yaml'), manifest('a'));
  await writeFile(join(dir, 'b.yaml'), manifest('b'));
  await writeFile(join(dir, 'c.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: c\n   bad: indentation\n');
  const { src, events } = source();
  await src.rescan();
  assert.deepEqual(src.list().map((p) => p.metadata.name).sort(), ['a-node-a', 'b-node-a']);
  const yamlLine = logs.find((l) => l.includes('c.yaml') && l.includes('YAML syntax error'));
  assert.ok(yamlLine, `no log line for c.yaml: ${logs.join('')}`);
  assert.match(JSON.parse(yamlLine).msg as string, /c\.yaml: YAML syntax error at line \d+, column \d+: /);

  // b becomes broken: its last good pod keeps running, a is untouched, nothing is deleted.
  const uidB = byName(src, 'b-node-a')!.metadata.uid;
  events.length = 0;
  await writeFile(join(dir, 'b.yaml'), manifest('b') + '  bogusField: 1\n');
  await src.rescan();
  assert.deepEqual(events, []);
  assert.equal(byName(src, 'b-node-a')?.metadata.uid, uidB);
  assert.ok(logs.some((l) => l.includes('b.yaml: spec.bogusField: unknown field') && l.includes('last good version keeps running')));
  const warnings = logs.length;
  await src.rescan();
  assert.equal(logs.length, warnings, 'the same broken content is not reported again');

  // Fixing c brings it up without touching a and b.
  await writeFile(join(dir, 'c.yaml'), manifest('c'));
  await src.rescan();
  assert.deepEqual((events as string[]).map((e) => e.split(' ').slice(0, 2).join(' ')), ['add c-node-a']);
});

test('two files defining the same pod: the first by file name wins', async () => {
  await writeFile(join(dir, '10-web.yaml'), manifest('web'));
  await writeFile(join(dir, '20-web.yaml'), manifest('web').replace('3600', '1'));
  const { src } = source();
  await src.rescan();
  assert.equal(src.list().length, 1);
  assert.equal(src.list()[0]!.spec.containers[0]!.command?.[1], '3600');
  assert.ok(logs.some((l) => l.includes('20-web.yaml') && l.includes('another manifest already defines this pod')));
});

test('start() resolves after the first scan; fs.watch triggers a rescan', async () => {
  await writeFile(join(dir, 'a.yaml'), manifest('a'));
  const src = new StaticPodSource({ dir, nodeName: 'n1', debounceMs: 20, rescanMs: 600_000 });
  const added: string[] = [];
  src.on({ add: (p) => added.push(p.metadata.name!) });
  const ac = new AbortController();
  try {
    await src.start(ac.signal);
    assert.deepEqual(src.list().map((p) => p.metadata.name), ['a-n1']);
    await writeFile(join(dir, 'b.yaml'), manifest('b'));
    for (let i = 0; i < 100 && !added.includes('b-n1'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(added.includes('b-n1'), 'the watch picked up the new file long before the 10-minute rescan');
  } finally {
    ac.abort();
    await src.stop();
  }
});

test('a missing directory yields no pods and no crash', async () => {
  const src = new StaticPodSource({ dir: join(dir, 'nope'), nodeName: 'n1', clock: new FakeClock() });
  const ac = new AbortController();
  await src.start(ac.signal);
  assert.deepEqual(src.list(), []);
  ac.abort();
  await src.stop();
});
