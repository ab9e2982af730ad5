// The native relay with several relay threads (proxy/native/loop.c, sockets.c): the threads exist
// and share a listener's clients evenly, ClientIP affinity stays exact under concurrent clients (one
// thread serves an affinity listener), an endpoint update reaches every thread's copy, and an engine
// whose second thread cannot start is undone and falls back to the pump. Real loopback sockets (127.0.0.x).
// Threads: DOCKERLET_RELAY_THREADS (default here 2; scripts/test-native-asan.sh runs 1 and 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { nativeRelay, nativeRelayThreads, nativeRelayUnavailable } from '../../../proxy/native/engine.js';
import { ep, relayFixture } from './relay-fixture.js';

const { cleanups, namedBackend, request, nativeListener, childListener } = relayFixture('threads');

process.env.DOCKERLET_RELAY_THREADS ??= '2';
const relay = nativeRelay();
const threads = nativeRelayThreads();
const multi = { skip: threads < 2 ? `the relay runs ${threads} thread` : false };






test('the relay runs the asked number of threads, named relay-N in /proc', () => {
  assert.ok(relay, nativeRelayUnavailable());
  assert.equal(threads, Number(process.env.DOCKERLET_RELAY_THREADS));
  const names = readdirSync('/proc/self/task').map((t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim());
  assert.deepEqual(names.filter((n) => n.startsWith('relay-')).sort(), Array.from({ length: threads }, (_, i) => `relay-${i}`));
});

test('[native] bursts of concurrent clients are spread over the threads; every request is answered', multi, async (t) => {
  assert.ok(relay?.perThread, 'the addon reports per-thread counts');
  const a = await namedBackend('127.0.0.2', 'a');
  const id = relay.listen('127.0.0.1', 0, 1024, 10_000, 0, [1000, 1000]);
  assert.ok(id > 0, `listen: ${id}`);
  cleanups.push(() => { relay.close(id); });
  assert.equal(relay.setTargets(id, ['127.0.0.2'], [a], 0), 1);
  const port = relay.port(id);
  const replies: string[] = [];
  for (let i = 0; i < 20; i++) replies.push(...await Promise.all(Array.from({ length: 50 }, () => request(port))));
  assert.equal(replies.filter((r) => r === 'a').length, 1000);
  const per = relay.perThread(id);
  t.diagnostic(`connections per thread: ${per.join(', ')}`);
  assert.equal(per.length, threads);
  assert.equal(per.reduce((x, y) => x + y, 0), 1000);
  // The kernel hashes each client's address over the threads' sockets: every thread gets a fair part
  // (a quarter of an even share is far below chance; one thread taking most would fail here).
  assert.ok(per.every((n) => n >= 1000 / threads / 4), `connections per thread: ${per.join(', ')}`);
});

test('[native] ClientIP affinity stays exact under concurrent clients from several addresses', async () => {
  const names = ['a', 'b', 'c'];
  const eps = await Promise.all(names.map(async (n, i) => ep(`127.0.0.${12 + i}`, await namedBackend(`127.0.0.${12 + i}`, n))));
  const l = await nativeListener(eps, { sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 60 });
  const clients = ['127.0.0.21', '127.0.0.22', '127.0.0.23', '127.0.0.24'];
  // 4 addresses × 40 concurrent connections, 3 bursts: each address always meets one endpoint.
  const seen = new Map<string, Set<string>>(clients.map((c) => [c, new Set()]));
  for (let round = 0; round < 3; round++) {
    await Promise.all(clients.flatMap((from) => Array.from({ length: 40 }, async () => { seen.get(from)!.add(await request(l.port, from)); })));
  }
  for (const [from, got] of seen) assert.equal(got.size, 1, `${from} reached ${[...got].join(', ')}`);
  // Affinity off: round robin over every endpoint again, from one address, on every thread.
  l.balancer.setConfig({ ...l.balancer.config, sessionAffinity: 'None' });
  l.setEndpoints(eps);
  const rr = await Promise.all(Array.from({ length: 60 }, () => request(l.port, '127.0.0.21')));
  assert.deepEqual(names.map((n) => rr.filter((r) => r === n).length), [20, 20, 20]);
});

test('[native] an endpoint update reaches every thread: after it, no concurrent client meets the old endpoint', async () => {
  const a = await namedBackend('127.0.0.2', 'a');
  const b = await namedBackend('127.0.0.3', 'b');
  const l = await nativeListener([ep('127.0.0.2', a)]);
  for (let i = 0; i < 5; i++) {
    const only = i % 2 ? 'a' : 'b';
    l.setEndpoints([only === 'a' ? ep('127.0.0.2', a) : ep('127.0.0.3', b)]);
    const replies = await Promise.all(Array.from({ length: 60 }, () => request(l.port)));
    assert.deepEqual([...new Set(replies)], [only], `round ${i}`);
  }
});


test('the real addon whose second relay thread cannot start: the first is stopped, the proxy falls back to the pump and proxies', async () => {
  const a = await namedBackend('127.0.0.2', 'a');
  const got = await childListener(a, { DOCKERLET_RELAY_THREADS: '2', DOCKERLET_RELAY_FAULT_THREAD: '1' });
  assert.equal(got.mode, 'pump');
  assert.match(got.why, /engine did not start: EAGAIN/);
  assert.equal(await request(got.port), 'a');
  // Without the fault the same child runs the relay.
  const ok = await childListener(a, { DOCKERLET_RELAY_THREADS: '2' });
  assert.equal(ok.mode, 'native', ok.why);
  assert.equal(await request(ok.port), 'a');
});
