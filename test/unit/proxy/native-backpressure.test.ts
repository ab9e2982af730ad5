// Bounded memory per connection under a slow reader, for both TCP data paths (the native relay and
// the pump): a client that reads nothing and an endpoint that writes as fast as it can. The proxy must
// stop reading the endpoint once its write to the client cannot go on, so what it has read from the
// endpoint (bytesOut, counted as bytes are read) stays within what the kernel's socket buffers toward
// the client hold plus one read buffer, while the endpoint is left blocked. Then the client reads and
// gets every byte. And a reset (not a FIN) on either side after every byte was delivered reaches the
// other side as a reset. Real loopback sockets (127.0.0.x); DOCKERLET_RELAY_THREADS picks the relay's
// thread count (scripts/test-native-asan.sh runs 1 and 2).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { Balancer } from '../../../proxy/balancer.js';
import { TcpListener } from '../../../proxy/tcp.js';
import { nativeRelayUnavailable } from '../../../proxy/native/engine.js';
import type { DataPathMode } from '../../../proxy/conn.js';

const MODES = ['native', 'pump'] as const;
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function backend(host: string, onConn: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, onConn);
  await new Promise<void>((r) => server.listen(0, host, r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

async function listener(port: number, mode: DataPathMode): Promise<TcpListener> {
  const balancer = new Balancer({ nodeName: 'n1', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 });
  const l = new TcpListener({ key: 'test/backpressure:p', balancer, bindAddress: '127.0.0.1', mode });
  assert.equal(l.mode, mode, nativeRelayUnavailable());
  l.setEndpoints([{ ip: '127.0.0.2', port, ready: true, serving: true, terminating: false }]);
  await l.start();
  cleanups.push(() => l.stop());
  return l;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The kernel's largest TCP receive and send buffers (autotuning stops there). */
const sysMax = (f: string) => Number(readFileSync(`/proc/sys/net/ipv4/${f}`, 'utf8').trim().split(/\s+/)[2]);

for (const mode of MODES) {
  test(`[${mode}] a client that reads nothing: the proxy stops reading the fast endpoint (bounded), then delivers every byte`, async (t) => {
    const total = 192 << 20;
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    const srv = { written: 0, blocked: false };
    const port = await backend('127.0.0.2', (s) => {
      s.on('error', () => s.destroy());
      const pump = () => {
        while (srv.written < total) {
          srv.written += chunk.length;
          if (!s.write(chunk)) { srv.blocked = true; s.once('drain', () => { srv.blocked = false; pump(); }); return; }
        }
        s.end();
      };
      pump();
    });
    const l = await listener(port, mode);
    const c = net.connect({ port: l.port, host: '127.0.0.1' });
    c.on('error', () => {});
    c.pause();
    // Settled: the endpoint is blocked and the proxy read nothing more for 10 polls in a row.
    let last = -1;
    let still = 0;
    const deadline = Date.now() + 60_000;
    while (still < 10 && Date.now() < deadline) {
      await sleep(100);
      const out = l.stats.bytesOut;
      still = srv.blocked && out === last ? still + 1 : 0;
      last = out;
    }
    t.diagnostic(`read from the endpoint when settled: ${l.stats.bytesOut} bytes; the endpoint wrote ${srv.written}`);
    assert.ok(srv.blocked, `the endpoint was never held back (it wrote ${srv.written} bytes)`);
    // What the proxy read and not yet saw read by the client sits in: the client's receive buffer,
    // the proxy's send buffer toward it, at most one 256 KiB read per direction, the client's own
    // stream buffer (Node's 64 KiB high-water mark) and, for the pump, the write it queued (1 MiB slack).
    const bound = sysMax('tcp_rmem') + sysMax('tcp_wmem') + 2 * (256 << 10) + (1 << 20);
    assert.ok(l.stats.bytesOut <= bound, `the proxy read ${l.stats.bytesOut} bytes from the endpoint; at most ${bound} may be in flight`);
    assert.ok(srv.written < total, 'the endpoint could not write everything');
    // The client reads now: every byte arrives and the connection ends.
    const got = await new Promise<number>((resolve, reject) => {
      let n = 0;
      c.on('data', (d: Buffer) => { n += d.length; });
      c.on('end', () => resolve(n));
      c.on('error', reject);
      c.resume();
    });
    c.destroy();
    assert.equal(got, total);
    assert.equal(l.stats.bytesOut, total);
  });
}

/** Resolves with how the socket ended: an error code, or 'end' for a clean FIN. */
const outcome = (s: net.Socket) => new Promise<string>((resolve) => {
  s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  s.on('end', () => resolve('end'));
});

for (const mode of MODES) {
  test(`[${mode}] a reset after every byte was delivered is forwarded as a reset, never a FIN, both ways`, async () => {
    // Client → endpoint: the endpoint has read all 100 KiB, then the client resets.
    let toEndpoint: Promise<string> | undefined;
    let received = 0;
    const sink = await backend('127.0.0.2', (s) => { toEndpoint = outcome(s); s.on('data', (d: Buffer) => { received += d.length; }); });
    const l1 = await listener(sink, mode);
    const c1 = net.connect({ port: l1.port, host: '127.0.0.1' });
    c1.on('error', () => {});
    c1.write(Buffer.alloc(100 << 10, 1));
    for (const deadline = Date.now() + 10_000; received < 100 << 10 && Date.now() < deadline;) await sleep(10);
    assert.equal(received, 100 << 10);
    c1.resetAndDestroy();
    assert.equal(await toEndpoint, 'ECONNRESET');
    // Endpoint → client: the client has read all 100 KiB, then the endpoint resets.
    let source: net.Socket | undefined;
    const talker = await backend('127.0.0.3', (s) => { source = s; s.on('error', () => {}); s.write(Buffer.alloc(100 << 10, 2)); });
    const l2 = await listener(talker, mode);
    l2.setEndpoints([{ ip: '127.0.0.3', port: talker, ready: true, serving: true, terminating: false }]);
    const c2 = net.connect({ port: l2.port, host: '127.0.0.1' });
    const toClient = outcome(c2);
    let got = 0;
    c2.on('data', (d: Buffer) => { got += d.length; });
    for (const deadline = Date.now() + 10_000; got < 100 << 10 && Date.now() < deadline;) await sleep(10);
    assert.equal(got, 100 << 10);
    source!.resetAndDestroy();
    assert.equal(await toClient, 'ECONNRESET');
  });
}
