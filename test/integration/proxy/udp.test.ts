// The UDP data path against real loopback echo servers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../../lib/log.js';
import { Balancer } from '../../../proxy/balancer.js';
import { UdpListener } from '../../../proxy/udp.js';
import type { EndpointInfo } from '../../../proxy/types.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function echoServer(host: string, tag: string): Promise<number> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from(`${tag}:`), m]), r.port, r.address));
  await new Promise<void>((r) => s.bind(0, host, r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return s.address().port;
}

const ep = (ip: string, port: number): EndpointInfo => ({ ip, port, ready: true, serving: true, terminating: false });

async function client(): Promise<{ ask(port: number, msg: string): Promise<string | undefined>; close(): void }> {
  const c = dgram.createSocket('udp4');
  await new Promise<void>((r) => c.bind(0, '127.0.0.1', r));
  cleanups.push(() => { try { c.close(); } catch { /* closed */ } });
  return {
    ask: (port, msg) => new Promise((resolve) => {
      const t = setTimeout(() => { c.off('message', on); resolve(undefined); }, 1000);
      const on = (m: Buffer) => { clearTimeout(t); c.off('message', on); resolve(m.toString()); };
      c.on('message', on);
      c.send(msg, port, '127.0.0.1');
    }),
    close: () => c.close(),
  };
}

test('per-client sessions stick to one endpoint, round robin across clients, idle sessions are reaped', async () => {
  const p2 = await echoServer('127.0.0.2', 'a');
  const p3 = await echoServer('127.0.0.3', 'b');
  const balancer = new Balancer({ nodeName: 'n', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 });
  const l = new UdpListener({ key: 't/dns:', balancer, bindAddress: '127.0.0.1', idleTimeoutMs: 250 });
  l.setEndpoints([ep('127.0.0.2', p2), ep('127.0.0.3', p3)]);
  const port = await l.start();
  cleanups.push(() => l.stop());
  const c1 = await client();
  const c2 = await client();
  const r1 = await c1.ask(port, 'x');
  const r1b = await c1.ask(port, 'y');
  const r2 = await c2.ask(port, 'z');
  assert.ok(r1 && r1b && r2);
  assert.equal(r1.split(':')[0], r1b.split(':')[0], 'one client, one session, one endpoint');
  assert.notEqual(r1.split(':')[0], r2.split(':')[0], 'the next client goes to the next endpoint');
  assert.equal(r1b, `${r1.split(':')[0]}:y`);
  assert.equal(l.sessionCount(), 2);
  for (let i = 0; i < 100 && l.sessionCount() > 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(l.sessionCount(), 0);
  assert.equal(l.stats.idleTimeouts, 2);
  assert.equal(l.stats.connectionsTotal, 2);
});

for (const closeRemoved of [false, true]) test(`no endpoints: datagrams are dropped and counted; sessions beyond the limit are counted and logged; a removed endpoint's session ${closeRemoved ? 'closes (closeRemovedEndpointSessions)' : 'lives on until idle (the default)'}`, async () => {
  const p2 = await echoServer('127.0.0.2', 'a');
  const balancer = new Balancer({ nodeName: 'n', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 });
  const lines: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  const log = createLogger({ level: 'warn', destination: sink });
  const l = new UdpListener({ key: 't/u:', balancer, bindAddress: '127.0.0.1', idleTimeoutMs: 10_000, maxSessions: 1, closeRemovedEndpointSessions: closeRemoved, log });
  const port = await l.start();
  cleanups.push(() => l.stop());
  const c1 = await client();
  assert.equal(await c1.ask(port, 'x'), undefined);
  assert.equal(l.stats.rejects, 1);
  l.setEndpoints([ep('127.0.0.2', p2)]);
  assert.equal(await c1.ask(port, 'x'), 'a:x');
  const c2 = await client();
  assert.equal(await c2.ask(port, 'x'), undefined);
  assert.equal(await c2.ask(port, 'y'), undefined);
  assert.equal(l.stats.drops, 2);
  // Logged once (then once per 1000), naming the limit and the client.
  const warned = lines.map((t) => JSON.parse(t) as { msg: string; maxSessions?: number; client?: string }).filter((e) => /session limit/.test(e.msg));
  assert.equal(warned.length, 1, lines.join('\n'));
  assert.equal(warned[0]!.maxSessions, 1);
  assert.match(warned[0]!.client ?? '', /^127\.0\.0\.1:\d+$/);
  l.setEndpoints([]);
  if (closeRemoved) {
    assert.equal(l.sessionCount(), 0);
    assert.equal(l.stats.endpointRemovalCloses, 1);
  } else {
    // As upstream's client cache: the session still reaches its endpoint; new clients have none.
    assert.equal(l.sessionCount(), 1);
    assert.equal(await c1.ask(port, 'z'), 'a:z');
    assert.equal(l.stats.endpointRemovalCloses, 0);
  }
});
