// Issue 21, the slow part (not in CI: the pod GC deletes a gone node's pods only after its 40 s
// quarantine): on the three-node bed, a node is removed (its dockerlet and dockerd stopped, the Node
// deleted). The other two drop its route, its pods are rescheduled onto them, and the Service keeps
// answering from every endpoint — from a pod on each remaining node, from each remaining node's
// namespace, and through the NodePort on their LAN addresses. The egress guard counts nothing.
// Run: DOCKERLET_CONTROL_PLANE_DIR=… node --import tsx --test --test-concurrency=1 test/slow/network/node-removal.test.ts
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MultiNodeCluster } from '../../cluster/multinode.js';
import { httpCall, pollValue } from '../../cluster/net.js';
import {
  collectAnswers, startEchoBed, egressGuardCounters, inNode, kubectl, readyEchoPods, type PodInfo,
} from '../../integration/network/helpers.js';

const NS = 'net-slow';
let bed: MultiNodeCluster | undefined;
let udpEcho = '';
let guardBefore = '';
let clusterIP = '';
let nodePort = 0;
let before6: PodInfo[] = [];

const b = (): MultiNodeCluster => {
  assert.ok(bed, 'bed is up');
  return bed;
};

before(async () => {
  const e = await startEchoBed(NS);
  ({ bed, guardBefore, udpEcho, clusterIP, nodePort } = e);
  before6 = e.pods;
}, { timeout: 600_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

test('a removed node: routes dropped, pods rescheduled on the others, the Service answers from every endpoint', { timeout: 600_000 }, async () => {
  const [n1, n2, n3] = b().nodes;
  assert.ok(n1 && n2 && n3);
  assert.equal(before6.filter((p) => p.node === n3.name).length, 2);
  const t0 = Date.now();
  await b().stopNode(n3.name);
  await kubectl(b(), ['delete', 'node', n3.name, '--wait=true']);
  for (const n of [n1, n2]) {
    await pollValue(`${n.name} drops its route to ${n3.name}`, 60_000, async () => {
      const routes = JSON.parse((await inNode(b(), n.name, ['ip', '-4', '-j', 'route', 'show', 'proto', '211'])).trim() || '[]') as { gateway: string }[];
      return routes.length === 1 && routes[0]?.gateway !== n3.ip ? true : undefined;
    });
  }
  const routesMs = Date.now() - t0;
  const pods = await readyEchoPods(b(), NS, 6, 300_000, [n1.name, n2.name]);
  const rescheduledMs = Date.now() - t0;
  console.log(JSON.stringify({ routesDroppedMs: routesMs, rescheduledMs }));
  const names = new Set(pods.map((p) => p.name));
  const podOn = (node: string) => pods.find((p) => p.node === node);
  for (const n of [n1, n2]) {
    const pod = podOn(n.name);
    assert.ok(pod, `a pod on ${n.name}`);
    const seen = await pollValue(`every endpoint from ${pod.name}`, 90_000, async () => {
      const out = await kubectl(b(), ['-n', NS, 'exec', pod.name, '-c', 'udp', '--', 'sh', '-c', `for i in $(seq 1 18); do udp-echo ask ${clusterIP} 81 5 || true; done`], 180_000);
      const s = new Set(out.trim().split('\n').map((l) => l.split(' ')[1]));
      return [...names].every((x) => s.has(x)) ? s : undefined;
    });
    assert.equal(seen.size, 6);
    const tcp = await collectAnswers(() => inNode(b(), n.name, ['curl', '--noproxy', '*', '-s', '-m', '5', `http://${clusterIP}/`]), names, 40);
    assert.deepEqual([...tcp].sort(), [...names].sort(), `TCP endpoints from node ${n.name}`);
    const udp = await collectAnswers(() => inNode(b(), n.name, [udpEcho, 'ask', clusterIP, '81', '5']), names, 40);
    assert.deepEqual([...udp].sort(), [...names].sort(), `UDP endpoints from node ${n.name}`);
    const np = await collectAnswers(async () => (await httpCall(`http://${n.ip}:${nodePort}/`, { timeoutMs: 5_000 })).body, names, 40);
    assert.deepEqual([...np].sort(), [...names].sort(), `NodePort ${n.ip}:${nodePort}`);
  }
  assert.deepEqual(await b().leaks(), { out: 0, forwarded: 0 });
  const guardAfter = await egressGuardCounters();
  if (process.env.DOCKERLET_EGRESS_GUARD_SHARED === '1') console.log(JSON.stringify({ guardBefore, guardAfter }));
  else assert.equal(guardAfter, guardBefore);
});
