// The TCP data paths (the native relay, the default, and the pump, its fallback) against real
// loopback backends (127.0.0.x), no API server.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import { Balancer } from '../../../proxy/balancer.js';
import { TcpListener } from '../../../proxy/tcp.js';
import { nativeRelayUnavailable } from '../../../proxy/native/engine.js';
import type { DataPathMode } from '../../../proxy/conn.js';
import type { EndpointInfo } from '../../../proxy/types.js';

const MODES = ['native', 'pump'] as const;
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function backend(host: string, onConn: (s: net.Socket) => void): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer({ allowHalfOpen: true }, onConn);
  await new Promise<void>((r) => server.listen(0, host, r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port, server };
}

/** Reads until the client end, answers `<name> <bytes>` and ends. */
const replyAfterEnd = (name: string) => (s: net.Socket) => {
  let n = 0;
  s.on('data', (d) => { n += d.length; });
  s.on('end', () => s.end(`${name} ${n}`));
  s.on('error', () => s.destroy());
};

/** Echoes every chunk; ends when the client ends. */
const echo = (s: net.Socket) => { s.on('error', () => s.destroy()); s.pipe(s); };

const ep = (ip: string, port: number, o: Partial<EndpointInfo> = {}): EndpointInfo => ({ ip, port, ready: true, serving: true, terminating: false, ...o });

async function listener(endpoints: EndpointInfo[], opts: { mode?: DataPathMode; idleTimeoutMs?: number; maxConnections?: number; closeRemovedEndpointConnections?: boolean } = {}): Promise<TcpListener> {
  const balancer = new Balancer({ nodeName: 'n1', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 });
  const l = new TcpListener({ key: 'test/svc:p', balancer, bindAddress: '127.0.0.1', ...opts });
  // The suite runs where scripts/build-native.sh has built the relay: no silent fallback.
  if (opts.mode) assert.equal(l.mode, opts.mode, nativeRelayUnavailable());
  l.setEndpoints(endpoints);
  await l.start();
  cleanups.push(() => l.stop());
  return l;
}

/** Connects, sends payload, half-closes, resolves with the full reply. */
function request(port: number, payload: string | Buffer = 'x'): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => { c.end(payload); });
    let out = '';
    c.on('data', (d) => { out += d.toString(); });
    c.on('end', () => { c.end(); resolve(out); });
    c.on('error', reject);
  });
}

function connectionError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect({ port, host: '127.0.0.1' });
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    c.on('close', () => resolve('closed-without-error'));
  });
}

function until(cond: () => boolean, what: string, tries = 200): Promise<void> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const tick = () => {
      if (cond()) return resolve();
      if (++n > tries) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 25);
    };
    tick();
  });
}

for (const mode of MODES) {
  test(`[${mode}] round robin reaches every backend; half-close is forwarded both ways`, async () => {
    const hosts = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
    const eps: EndpointInfo[] = [];
    for (const h of hosts) eps.push(ep(h, (await backend(h, replyAfterEnd(h))).port));
    const l = await listener(eps, { mode });
    const replies: string[] = [];
    for (let i = 0; i < 9; i++) replies.push(await request(l.port, Buffer.alloc(100_000 + i, 1)));
    const byHost = new Map<string, number>();
    for (const r of replies) byHost.set(r.split(' ')[0]!, (byHost.get(r.split(' ')[0]!) ?? 0) + 1);
    assert.deepEqual([...byHost.entries()].sort(), hosts.map((h) => [h, 3]));
    // The client ended its write side and still read the reply: half-close works; byte counts are exact.
    assert.deepEqual(replies.map((r) => Number(r.split(' ')[1])), Array.from({ length: 9 }, (_, i) => 100_000 + i));
    await until(() => l.stats.active === 0, 'connections to close');
    assert.equal(l.stats.connectionsTotal, 9);
  });
}

for (const mode of MODES) {
  test(`[${mode}] a backend that speaks first: its banner arrives before the client sends, then the exchange continues`, async () => {
    const b = await backend('127.0.0.2', (s) => {
      s.on('error', () => s.destroy());
      s.write('220 ready\n');
      s.on('data', (d) => s.end(`got ${d.toString()}`));
    });
    const l = await listener([ep('127.0.0.2', b.port)], { mode });
    const out = await new Promise<string>((resolve, reject) => {
      const c = net.connect({ port: l.port, host: '127.0.0.1' });
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString();
        if (buf === '220 ready\n') c.write('hello');
      });
      c.on('end', () => resolve(buf));
      c.on('error', reject);
    });
    assert.equal(out, '220 ready\ngot hello');
  });
}

for (const mode of MODES) {
  test(`[${mode}] no endpoints: the client is reset at once (ECONNRESET)`, async () => {
    const l = await listener([], { mode });
    assert.equal(await connectionError(l.port), 'ECONNRESET');
    const b = await backend('127.0.0.2', replyAfterEnd('b'));
    // Only non-serving endpoints: still a reject.
    l.setEndpoints([ep('127.0.0.2', b.port, { ready: false, serving: false })]);
    assert.equal(await connectionError(l.port), 'ECONNRESET');
    assert.equal(l.stats.rejects, 2);
  });
}

for (const mode of MODES) {
  test(`[${mode}] failover: a closed endpoint port is skipped, 0 failed connections`, async () => {
    const dead = await backend('127.0.0.5', () => {});
    await new Promise<void>((r) => dead.server.close(() => r()));
    const live = await backend('127.0.0.6', replyAfterEnd('live'));
    const l = await listener([ep('127.0.0.5', dead.port), ep('127.0.0.6', live.port)], { mode });
    let failed = 0;
    for (let i = 0; i < 40; i++) {
      const r = await request(l.port).catch(() => 'failed');
      if (!r.startsWith('live')) failed++;
    }
    assert.equal(failed, 0);
    assert.ok(l.stats.connectFailures >= 20, `connect failures counted: ${l.stats.connectFailures}`);
  });
}

for (const mode of MODES) {
  test(`[${mode}] a reset from the endpoint is propagated to the client as ECONNRESET`, async () => {
    const b = await backend('127.0.0.2', (s) => { s.once('data', () => s.resetAndDestroy()); });
    const l = await listener([ep('127.0.0.2', b.port)], { mode });
    const code = await new Promise<string>((resolve) => {
      const c = net.connect({ port: l.port, host: '127.0.0.1' }, () => c.write('hello'));
      c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      c.on('close', () => resolve('closed-without-error'));
    });
    assert.equal(code, 'ECONNRESET');
  });
}

for (const mode of MODES) {
  test(`[${mode}] no idle reset by default; a set idle timeout closes a silent connection; the connection limit drops extra clients`, async () => {
    const b = await backend('127.0.0.2', echo);
    assert.equal((await listener([ep('127.0.0.2', b.port)], { mode })).idleTimeoutMs, 0, 'upstream has no idle reset');
    const l = await listener([ep('127.0.0.2', b.port)], { mode, idleTimeoutMs: 150, maxConnections: 1 });
    const c = net.connect({ port: l.port, host: '127.0.0.1' });
    let firstError = '';
    c.on('error', (e: NodeJS.ErrnoException) => { firstError = e.code ?? 'error'; });
    const closed = new Promise<void>((r) => c.on('close', () => r()));
    await until(() => l.stats.active === 1, 'first connection');
    // The second client is turned away while the first still holds the only slot.
    const second = await connectionError(l.port);
    assert.ok(second === 'ECONNRESET' || second === 'closed-without-error', `second client: ${second}`);
    assert.deepEqual([l.stats.drops, l.stats.active, l.stats.idleTimeouts], [1, 1, 0]);
    await closed;
    assert.equal(firstError, 'ECONNRESET', 'an idle reset is a reset');
    assert.equal(l.stats.idleTimeouts, 1);
  });
}

for (const mode of MODES) {
  for (const closeRemoved of [false, true]) test(`[${mode}] an endpoint leaving the slice ${closeRemoved ? 'closes its connections (closeRemovedEndpointConnections)' : 'keeps its established connections (the default, as upstream)'}; a not-ready but serving one keeps them`, async () => {
    // Each backend answers with its name, so the test knows which client the balancer gave to which
    // endpoint (with several relay threads the accept order, and so the round robin's, is not the
    // connect order).
    const tagged = (name: string) => (s: net.Socket) => { s.on('error', () => s.destroy()); s.on('data', (d) => s.write(`${name}:${d.toString()}`)); s.on('end', () => s.end()); };
    const a = await backend('127.0.0.2', tagged('a'));
    const b = await backend('127.0.0.3', tagged('b'));
    const l = await listener([ep('127.0.0.2', a.port), ep('127.0.0.3', b.port)], { mode, closeRemovedEndpointConnections: closeRemoved });
    const open = async () => {
      const c = net.connect({ port: l.port, host: '127.0.0.1' });
      c.on('error', () => {});
      await new Promise<void>((r) => c.once('connect', () => r()));
      return c;
    };
    const roundTrip = (c: net.Socket, msg: string) => new Promise<string>((resolve, reject) => {
      c.once('data', (d) => resolve(d.toString()));
      c.once('close', () => reject(new Error('closed')));
      c.write(msg);
    });
    const c1 = await open();
    const c2 = await open();
    const r1 = await roundTrip(c1, 'one');
    const r2 = await roundTrip(c2, 'two');
    assert.deepEqual([r1, r2].map((r) => r.slice(2)).sort(), ['one', 'two']);
    assert.deepEqual([r1[0], r2[0]].sort(), ['a', 'b'], 'round robin: one client per endpoint');
    const [stay, leave] = r1.startsWith('a:') ? [c1, c2] : [c2, c1];
    const byEp = l.connectionsByEndpoint();
    assert.equal(byEp.get(`127.0.0.2:${a.port}`), 1);
    assert.equal(byEp.get(`127.0.0.3:${b.port}`), 1);
    const leaveClosed = new Promise<void>((r) => leave.once('close', () => r()));
    // .2 becomes terminating but still serving; .3 leaves the slice.
    l.setEndpoints([ep('127.0.0.2', a.port, { ready: false, serving: true, terminating: true })]);
    if (closeRemoved) {
      await leaveClosed;
      assert.equal(l.stats.endpointRemovalCloses, 1);
    } else {
      // The removed endpoint's connection still carries data; new connections only go to .2.
      assert.equal(await roundTrip(leave, 'kept'), 'b:kept');
      assert.equal(l.stats.endpointRemovalCloses, 0);
      const c3 = await open();
      assert.equal(await roundTrip(c3, 'new'), 'a:new');
      assert.equal(l.connectionsByEndpoint().get(`127.0.0.2:${a.port}`), 2);
      c3.destroy();
      leave.destroy();
    }
    assert.equal(await roundTrip(stay, 'still'), 'a:still');
    stay.destroy();
  });
}

for (const mode of MODES) {
  test(`[${mode}] byte counters grow while a connection lives`, async () => {
    const b = await backend('127.0.0.2', echo);
    const l = await listener([ep('127.0.0.2', b.port)], { mode });
    const c = net.connect({ port: l.port, host: '127.0.0.1' });
    c.on('error', () => {});
    let got = 0;
    c.on('data', (d) => { got += d.length; });
    c.write(Buffer.alloc(1000, 1));
    await until(() => got === 1000, 'the echo');
    await until(() => l.stats.bytesIn === 1000 && l.stats.bytesOut === 1000, `live counters (in ${l.stats.bytesIn}, out ${l.stats.bytesOut})`);
    assert.equal(l.stats.active, 1, 'still open');
    c.end();
    await until(() => l.stats.active === 0, 'close');
    assert.deepEqual([l.stats.bytesIn, l.stats.bytesOut], [1000, 1000], 'counted once');
  });
}

for (const mode of MODES) {
  test(`[${mode}] a client still dialing an endpoint that leaves the slice moves on to the next one (closeRemovedEndpointConnections)`, async () => {
    const { execFileSync } = await import('node:child_process');
    const live = await backend('127.0.0.6', replyAfterEnd('live'));
    const port = live.port;
    // SYNs to 127.0.0.8:<port> are dropped on this host only (loopback): a dial there hangs.
    const rule = ['OUTPUT', '-d', '127.0.0.8/32', '-p', 'tcp', '--dport', String(port), '-m', 'comment', '--comment', 'dockerlet-test-redial', '-j', 'DROP'];
    execFileSync('iptables', ['-w', '-I', ...rule]);
    cleanups.push(() => { try { execFileSync('iptables', ['-w', '-D', ...rule]); } catch { /* gone */ } });
    const balancer = new Balancer({ nodeName: 'n1', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 });
    const l = new TcpListener({ key: 'test/redial:p', balancer, bindAddress: '127.0.0.1', mode, closeRemovedEndpointConnections: true, dialTimeoutsMs: [10_000, 10_000] });
    assert.equal(l.mode, mode, nativeRelayUnavailable());
    l.setEndpoints([ep('127.0.0.8', port)]);
    await l.start();
    cleanups.push(() => l.stop());
    const reply = request(l.port).catch((e: NodeJS.ErrnoException) => `error ${e.code}`);
    await until(() => l.stats.connectionsTotal === 0 && l.stats.rejects === 0 && l.connectionsByEndpoint().size === 0, 'the dial in flight');
    await new Promise((r) => setTimeout(r, 100));
    l.setEndpoints([ep('127.0.0.6', port)]);
    assert.equal(await reply, 'live 1', 'served by the next endpoint, not reset');
    assert.deepEqual([l.stats.rejects, l.stats.endpointRemovalCloses], [0, 0]);
    execFileSync('iptables', ['-w', '-D', ...rule]);
  });
}

function closeWaitCount(ports: number[]): number {
  const hex = new Set(ports.map((p) => p.toString(16).toUpperCase().padStart(4, '0')));
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== '08') continue;
    if (hex.has(f[1]!.split(':')[1]!) || hex.has(f[2]!.split(':')[1]!)) n++;
  }
  return n;
}

const fdCount = () => readdirSync('/proc/self/fd').length;

test('[native] 10,000 proxied connections leave 0 sockets in CLOSE_WAIT and the fd count where it started (also under AddressSanitizer)', async () => {
  const b = await backend('127.0.0.2', replyAfterEnd('b'));
  const l = await listener([ep('127.0.0.2', b.port)], { mode: 'native' });
  await request(l.port); // warm up lazily created handles
  await until(() => l.stats.active === 0, 'warm-up close');
  const fdsBefore = fdCount();
  const total = 10_000;
  const batch = 100;
  let failures = 0;
  for (let i = 0; i < total; i += batch) {
    const rs = await Promise.allSettled(Array.from({ length: batch }, () => request(l.port, 'ping')));
    failures += rs.filter((r) => r.status === 'rejected' || !r.value.startsWith('b 4')).length;
  }
  assert.equal(failures, 0);
  await until(() => l.stats.active === 0, 'all proxied connections to close');
  await until(() => closeWaitCount([l.port, b.port]) === 0, '0 CLOSE_WAIT').catch(() => undefined);
  assert.equal(closeWaitCount([l.port, b.port]), 0);
  await until(() => fdCount() <= fdsBefore, 'fd count back to start').catch(() => undefined);
  assert.equal(fdCount(), fdsBefore);
  assert.equal(l.stats.connectionsTotal, total + 1);
});

for (const mode of MODES) {
  test(`[${mode}] 24 MiB each way through a slow reader: every byte intact (backpressure)`, async () => {
    const { createHash } = await import('node:crypto');
    const b = await backend('127.0.0.2', echo);
    const l = await listener([ep('127.0.0.2', b.port)], { mode });
    const size = 24 << 20;
    const payload = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
    const want = createHash('sha256').update(payload).digest('hex');
    const got = await new Promise<{ hash: string; n: number }>((resolve, reject) => {
      const h = createHash('sha256');
      let n = 0;
      const c = net.connect({ port: l.port, host: '127.0.0.1', allowHalfOpen: true }, () => { c.end(payload); });
      // A slow reader: pauses every 2 MiB so the proxy's writes to it go asynchronous.
      let mark = 0;
      c.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
        if (n - mark >= 2 << 20) { mark = n; c.pause(); setTimeout(() => c.resume(), 20); }
      });
      c.on('end', () => { c.end(); resolve({ hash: h.digest('hex'), n }); });
      c.on('error', reject);
    });
    assert.equal(got.n, size);
    assert.equal(got.hash, want);
    await until(() => l.stats.active === 0, 'connection to close');
    assert.equal(l.stats.bytesIn, size);
    assert.equal(l.stats.bytesOut, size);
  });
}

for (const mode of MODES) {
  test(`[${mode}] idle timeout on half-closed connections closes every handle (no fd left behind)`, async () => {
    // The endpoint reads the client's request and end, then stays silent with its side open.
    const held: net.Socket[] = [];
    const b = await backend('127.0.0.2', (s) => { held.push(s); s.on('data', () => {}); s.on('error', () => s.destroy()); });
    const l = await listener([ep('127.0.0.2', b.port)], { mode, idleTimeoutMs: 200 });
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    const closed = await Promise.all(Array.from({ length: 20 }, () => new Promise<string>((resolve) => {
      const c = net.connect({ port: l.port, host: '127.0.0.1', allowHalfOpen: true }, () => c.end('req'));
      c.on('data', () => {});
      c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      c.on('close', () => resolve('closed'));
    })));
    // Every client saw its connection reset by the idle sweep, none a clean end.
    assert.deepEqual([...new Set(closed)], ['ECONNRESET']);
    await until(() => l.stats.active === 0, 'idle connections to be closed');
    assert.equal(l.stats.idleTimeouts, 20);
    // The endpoint never learns (its side stays open): close those, then client sockets, proxy legs
    // and endpoint sockets are all gone again.
    for (const s of held) s.destroy();
    await until(() => fds() <= before, `fds back to ${before} (now ${fds()})`);
  });
}

for (const mode of MODES) {
  test(`[${mode}] a dial that gets no answer times out (250 ms step) and the next endpoint serves`, async () => {
    const { execFileSync } = await import('node:child_process');
    const live = await backend('127.0.0.6', replyAfterEnd('live'));
    // SYNs to 127.0.0.7:<port> are dropped on this host only (loopback), so the connect hangs.
    const port = live.port;
    const rule = ['OUTPUT', '-d', '127.0.0.7/32', '-p', 'tcp', '--dport', String(port), '-m', 'comment', '--comment', 'dockerlet-test-dial-timeout', '-j', 'DROP'];
    execFileSync('iptables', ['-w', '-I', ...rule]);
    cleanups.push(() => { try { execFileSync('iptables', ['-w', '-D', ...rule]); } catch { /* gone */ } });
    const l = await listener([ep('127.0.0.7', port), ep('127.0.0.6', port)], { mode });
    const replies: string[] = [];
    for (let i = 0; i < 6; i++) replies.push(await request(l.port));
    assert.ok(replies.every((r) => r.startsWith('live')), replies.join(','));
    // Round robin sends every other connection to the silent endpoint first: each of those timed out.
    assert.ok(l.stats.connectFailures >= 3, `dial timeouts counted: ${l.stats.connectFailures}`);
    execFileSync('iptables', ['-w', '-D', ...rule]);
  });
}
