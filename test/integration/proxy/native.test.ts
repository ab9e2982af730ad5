// The native relay's own behaviour beyond the data-path tests it shares with the pump (tcp.test.ts
// runs those for both): ClientIP affinity, counters after stop, keeping the process alive, and the
// fallback to the pump when the addon is missing or its engine cannot start (traffic still flows).
// Real loopback sockets, no API server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nativeRelay, nativeRelayUnavailable } from '../../../proxy/native/engine.js';
import { ep, relayFixture } from '../../unit/proxy/relay-fixture.js';

const { cleanups, namedBackend, request, nativeListener, childListener } = relayFixture('native');






test('[native] ClientIP affinity: one client sticks to one endpoint; affinity off → round robin; a removed endpoint is forgotten', async () => {
  const a = await namedBackend('127.0.0.2', 'a');
  const b = await namedBackend('127.0.0.3', 'b');
  const eps = [ep('127.0.0.2', a), ep('127.0.0.3', b)];
  const l = await nativeListener(eps, { sessionAffinity: 'ClientIP', affinityTimeoutSeconds: 60 });
  const sticky: string[] = [];
  for (let i = 0; i < 6; i++) sticky.push(await request(l.port));
  assert.equal(new Set(sticky).size, 1, sticky.join(','));
  // The endpoint the client sticks to leaves: the client moves to the other one and stays there.
  const gone = sticky[0]!;
  const rest = eps.filter((e) => !e.ip.endsWith(gone === 'a' ? '.2' : '.3'));
  l.setEndpoints(rest);
  const moved: string[] = [];
  for (let i = 0; i < 3; i++) moved.push(await request(l.port));
  assert.deepEqual(moved, Array(3).fill(gone === 'a' ? 'b' : 'a'));
  // Affinity off (the proxier calls setConfig, then setEndpoints): round robin over both again.
  l.balancer.setConfig({ ...l.balancer.config, sessionAffinity: 'None' });
  l.setEndpoints(eps);
  const rr: string[] = [];
  for (let i = 0; i < 4; i++) rr.push(await request(l.port));
  assert.deepEqual([...rr].sort(), ['a', 'a', 'b', 'b']);
});

test('[native] counters survive stop(); the port is released', async () => {
  const a = await namedBackend('127.0.0.2', 'a');
  const l = await nativeListener([ep('127.0.0.2', a)]);
  for (let i = 0; i < 3; i++) assert.equal(await request(l.port), 'a');
  const port = l.port;
  await l.stop();
  assert.equal(l.stats.connectionsTotal, 3);
  assert.equal(l.stats.bytesIn, 3);
  assert.equal(l.stats.bytesOut, 3);
  const again = net.createServer();
  await new Promise<void>((resolve, reject) => { again.once('error', reject); again.listen(port, '127.0.0.1', resolve); });
  await new Promise<void>((r) => again.close(() => r()));
});

test('[native] a client that connects between listen and the first endpoints waits for them instead of being reset', async () => {
  const relay = nativeRelay();
  assert.ok(relay, nativeRelayUnavailable());
  const a = await namedBackend('127.0.0.2', 'a');
  const id = relay.listen('127.0.0.1', 0, 16, 100, 60_000, [250, 500]);
  assert.ok(id > 0, `listen: ${id}`);
  cleanups.push(() => { relay.close(id); });
  const reply = request(relay.port(id));
  // The connection is in the backlog now; let the relay thread see it if it were accepting.
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(relay.setTargets(id, ['127.0.0.2'], [a], 0), 1);
  assert.equal(await reply, 'a');
  const stats = new Float64Array(10);
  relay.stats(id, stats);
  assert.equal(stats[5], 0, 'no rejects');
});

test('[native] a process whose only handle is a native listener keeps serving', async () => {
  const a = await namedBackend('127.0.0.2', 'a');
  // The child opens a native listener and nothing else, prints its port, and returns from its script.
  const script = `
    import { Balancer } from './proxy/balancer.ts';
    import { TcpListener } from './proxy/tcp.ts';
    const l = new TcpListener({ key: 'child/native:p', mode: 'native', bindAddress: '127.0.0.1',
      balancer: new Balancer({ nodeName: 'n', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 }) });
    l.setEndpoints([{ ip: '127.0.0.2', port: ${a}, ready: true, serving: true, terminating: false }]);
    console.log(l.mode + ' ' + await l.start());`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => { child.kill('SIGKILL'); });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before listening`)));
  });
  const [mode, port] = line.split(' ');
  assert.equal(mode, 'native');
  // Several round trips after its script ended: the loop is still alive because of the listener.
  for (let i = 0; i < 3; i++) assert.equal(await request(Number(port)), 'a');
  assert.equal(child.exitCode, null);
});


test('without the addon (DOCKERLET_NATIVE_RELAY empty) the default falls back to the pump, says why, and proxies', async () => {
  const a = await namedBackend('127.0.0.2', 'a');
  const got = await childListener(a, { DOCKERLET_NATIVE_RELAY: '' });
  assert.equal(got.mode, 'pump');
  assert.match(got.why, /DOCKERLET_NATIVE_RELAY is empty/);
  assert.equal(await request(got.port), 'a');
});

test('an addon whose engine cannot start (start() → -EAGAIN) falls back to the pump, says why, and proxies', async () => {
  const a = await namedBackend('127.0.0.2', 'a');
  // Stands in for relay.node on a host where the relay thread cannot be created.
  const fake = path.join(tmpdir(), `dockerlet-fake-relay-${process.pid}.cjs`);
  const fail = () => -11;
  writeFileSync(fake, `module.exports = { start: () => -11, ${['listen', 'port', 'setTargets', 'closeTarget', 'stats', 'connections', 'close'].map((f) => `${f}: ${String(fail)}`).join(', ')} };\n`);
  const got = await childListener(a, { DOCKERLET_NATIVE_RELAY: fake });
  assert.equal(got.mode, 'pump');
  assert.match(got.why, /engine did not start: EAGAIN/);
  assert.equal(await request(got.port), 'a');
});

test('[native] JavaScript and the relay thread at once: endpoint churn under load loses no request; stop() mid-transfer ends every client', async () => {
  const a = await namedBackend('127.0.0.2', 'a');
  const b = await namedBackend('127.0.0.3', 'b');
  const l = await nativeListener([ep('127.0.0.2', a), ep('127.0.0.3', b)]);
  // 400 requests, 20 at a time, while the selection flips 200 times between both and only "a"
  // ("b" stays in the slice, not ready: its connections live on, new ones go to "a").
  let flips = 0;
  const churn = setInterval(() => {
    flips++;
    l.setEndpoints(flips % 2 ? [ep('127.0.0.2', a), { ...ep('127.0.0.3', b), ready: false }] : [ep('127.0.0.2', a), ep('127.0.0.3', b)]);
  }, 1);
  const replies: string[] = [];
  try {
    for (let i = 0; i < 20; i++) replies.push(...await Promise.all(Array.from({ length: 20 }, () => request(l.port))));
  } finally {
    clearInterval(churn);
  }
  assert.ok(replies.every((r) => r === 'a' || r === 'b'), `unexpected replies: ${replies.filter((r) => r !== 'a' && r !== 'b').slice(0, 5).join(',')}`);
  assert.deepEqual([l.stats.rejects, l.stats.connectFailures], [0, 0], 'no request was refused or failed over');
  assert.ok(flips > 10, `flips: ${flips}`);

  // 50 clients streaming into a sink endpoint, then stop(): each one sees its connection reset. (A
  // client with unread bytes in its receive queue may see a reset as a plain end: the kernel hands
  // it the queued data and then EOF. Hence a sink: nothing flows back, so a FIN would be ours.)
  const echoSrv = net.createServer((s) => { s.on('error', () => s.destroy()); s.on('data', () => {}); });
  await new Promise<void>((r) => echoSrv.listen(0, '127.0.0.4', r));
  cleanups.push(() => new Promise<void>((r) => echoSrv.close(() => r())));
  const l2 = await nativeListener([ep('127.0.0.4', (echoSrv.address() as net.AddressInfo).port)]);
  const chunk = Buffer.alloc(64 << 10, 7);
  const ended = Array.from({ length: 50 }, () => new Promise<string>((resolve) => {
    const c = net.connect({ port: l2.port, host: '127.0.0.1' }, () => { const pump = () => { if (c.write(chunk)) setImmediate(pump); else c.once('drain', pump); }; pump(); });
    c.on('data', () => {});
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    c.on('close', () => resolve('closed'));
  }));
  const deadline = Date.now() + 10_000;
  while (l2.stats.active < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(l2.stats.active, 50);
  await l2.stop();
  const outcomes = await Promise.all(ended);
  // A stop resets: no client may mistake the cut for a clean end of stream.
  assert.ok(outcomes.every((o) => o === 'ECONNRESET' || o === 'EPIPE'), outcomes.join(','));
  // The relay still serves other listeners.
  assert.equal(await request(l.port), 'a');
});
