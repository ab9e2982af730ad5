// Proxy shard processes on real loopback (no API server): children accept on the primary's listening
// socket, follow endpoint updates, are restarted when killed, and give the socket back on detach.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Balancer, type BalancerConfig } from '../../../proxy/balancer.js';
import { TcpListener } from '../../../proxy/tcp.js';
import { ShardPool } from '../../../proxy/shards/pool.js';
import type { ShardListenerSpec } from '../../../proxy/shards/protocol.js';
import type { EndpointInfo } from '../../../proxy/types.js';
import { silentLogger } from '../../../lib/log.js';
import { pollValue, waitFor } from '../../cluster/net.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) { try { await c(); } catch { /* keep cleaning */ } } });

const KEY = 'test/sharded:http';
const CFG: BalancerConfig = { nodeName: 'n1', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 };
const ep = (ip: string, port: number): EndpointInfo => ({ ip, port, ready: true, serving: true, terminating: false });

/** A backend that answers its name once the client has ended. */
async function backend(host: string, name: string): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    s.on('data', () => {});
    s.on('end', () => s.end(name));
    s.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted };
}

function request(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => { c.end('x'); });
    let out = '';
    const timer = setTimeout(() => c.destroy(new Error('request timed out')), 10_000);
    c.on('data', (d) => { out += d.toString(); });
    c.on('end', () => { c.end(); clearTimeout(timer); resolve(out); });
    c.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/** `batches` rounds of `width` parallel requests; returns every reply. */
async function burst(port: number, batches: number, width: number): Promise<string[]> {
  const out: string[] = [];
  for (let b = 0; b < batches; b++) out.push(...await Promise.all(Array.from({ length: width }, () => request(port))));
  return out;
}

function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect({ port, host: '127.0.0.1' });
    c.on('connect', () => { c.destroy(); resolve('connected'); });
    c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

/** Inode of the socket listening on 127.0.0.1:port (from /proc/net/tcp). */
function listenInode(port: number): string | undefined {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '0A') return f[9];
  }
  return undefined;
}

/** True when process pid has an fd open on socket inode. */
function holds(pid: number, inode: string): boolean {
  let fds: string[];
  try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return false; }
  return fds.some((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`; } catch { return false; } });
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

const total = (pool: ShardPool, primary: TcpListener) => pool.remoteStats(KEY).connectionsTotal + primary.stats.connectionsTotal;

test('shard processes share the primary socket: traffic, stats, update, restart, detach, stop', async () => {
  const a = await backend('127.0.0.1', 'A');
  const b = await backend('127.0.0.1', 'B');
  const primary = new TcpListener({ key: KEY, balancer: new Balancer(CFG), bindAddress: '127.0.0.1', mode: 'raw' });
  primary.setEndpoints([ep('127.0.0.1', a.port)]);
  const port = await primary.start();
  cleanups.push(() => primary.stop());

  const pool = new ShardPool({ shards: 2, statsIntervalMs: 100, log: silentLogger(), detachTimeoutMs: 5000 });
  const ac = new AbortController();
  cleanups.push(() => pool.stop());
  await pool.start(ac.signal);
  assert.equal(pool.size, 2);
  const firstPids = pool.pids();
  assert.equal(firstPids.length, 2);

  const spec: ShardListenerSpec = { balancerConfig: CFG, endpoints: [ep('127.0.0.1', a.port)], idleTimeoutMs: 60_000, maxConnections: 1000 };
  await pool.attach(KEY, primary.server!, spec);
  const inode = listenInode(port);
  assert.ok(inode, 'listening socket visible in /proc/net/tcp');
  for (const pid of firstPids) assert.ok(holds(pid, inode), `shard ${pid} holds the listening socket`);

  // Sequential, then concurrent connections: every one succeeds and reaches backend A.
  let n = 0;
  for (let i = 0; i < 40; i++, n++) assert.equal(await request(port), 'A');
  const replies = await burst(port, 15, 20);
  n += replies.length;
  assert.deepEqual(new Set(replies), new Set(['A']));
  assert.equal(a.accepted(), n);
  const remote = await pollValue('shard stats to add up', 10_000, async () => (total(pool, primary) === n ? pool.remoteStats(KEY) : undefined), 50);
  assert.ok(remote.connectionsTotal > 0, `the shards accepted some of ${n} connections (primary took ${primary.stats.connectionsTotal})`);
  assert.equal(remote.rejects, 0);
  assert.equal(remote.active, 0);
  assert.ok(remote.bytesIn >= remote.connectionsTotal, 'client bytes counted in the shards');

  // Endpoint update: shard traffic moves to B.
  primary.setEndpoints([ep('127.0.0.1', b.port)]);
  pool.update(KEY, [ep('127.0.0.1', b.port)], CFG);
  await waitFor('every reply from B', async () => (await burst(port, 1, 20)).every((r) => r === 'B'), { deadline: Date.now() + 10_000, intervalMs: 50 });
  const remoteBefore = pool.remoteStats(KEY).connectionsTotal;
  const aBefore = a.accepted();
  const afterUpdate = await burst(port, 10, 20);
  assert.deepEqual(new Set(afterUpdate), new Set(['B']));
  assert.equal(a.accepted(), aBefore, 'backend A gets nothing after the update');
  await waitFor('shard stats to move', async () => pool.remoteStats(KEY).connectionsTotal > remoteBefore, { deadline: Date.now() + 10_000, intervalMs: 50 });

  // Kill both shards: they are restarted, re-attached with the current endpoints, and totals never go down.
  const beforeKill = pool.remoteStats(KEY).connectionsTotal;
  for (const pid of firstPids) process.kill(pid, 'SIGKILL');
  const newPids = await pollValue('both shards restarted and holding the socket', 20_000, async () => {
    const pids = pool.pids();
    return pids.length === 2 && pids.every((p) => !firstPids.includes(p) && holds(p, inode)) ? pids : undefined;
  }, 100);
  assert.ok(pool.remoteStats(KEY).connectionsTotal >= beforeKill, 'counters of dead shards are kept');
  const afterRestart = await burst(port, 10, 20);
  assert.deepEqual(new Set(afterRestart), new Set(['B']), 'restarted shards use the current endpoints');
  await waitFor('restarted shards to accept', async () => pool.remoteStats(KEY).connectionsTotal > beforeKill, { deadline: Date.now() + 10_000, intervalMs: 50 });

  // Detach: no shard keeps the socket, so once the primary closes its copy the port refuses.
  const beforeDetach = pool.remoteStats(KEY).connectionsTotal;
  await pool.detach(KEY);
  for (const pid of newPids) assert.equal(holds(pid, inode), false, `shard ${pid} closed its copy`);
  assert.ok(pool.remoteStats(KEY).connectionsTotal >= beforeDetach, 'final counters kept after detach');
  assert.equal(await request(port), 'B', 'the primary still serves after detach');
  await primary.stop();
  assert.equal(await connectError(port), 'ECONNREFUSED');

  // Stop: no child process is left.
  await pool.stop();
  assert.deepEqual(pool.pids(), []);
  for (const pid of [...firstPids, ...newPids]) assert.equal(alive(pid), false, `shard ${pid} is gone`);
});

test('attach refuses a server that is not listening; start with 0 shards is a no-op', async () => {
  const pool = new ShardPool({ shards: 0, log: silentLogger() });
  cleanups.push(() => pool.stop());
  await pool.start(new AbortController().signal);
  assert.deepEqual(pool.pids(), []);
  const spec: ShardListenerSpec = { balancerConfig: CFG, endpoints: [], idleTimeoutMs: 1000, maxConnections: 10 };
  await assert.rejects(pool.attach('x/y:z', net.createServer(), spec), /not listening/);
  assert.throws(() => new ShardPool({ shards: -1, log: silentLogger() }), /0\.\.256/);
});

test('a shard that does not answer detach is killed, so the port really closes', async () => {
  const a = await backend('127.0.0.1', 'A');
  const primary = new TcpListener({ key: KEY, balancer: new Balancer(CFG), bindAddress: '127.0.0.1', mode: 'raw' });
  primary.setEndpoints([ep('127.0.0.1', a.port)]);
  const port = await primary.start();
  cleanups.push(() => primary.stop());
  const childEntry = new URL('./fixtures/deaf-shard.ts', import.meta.url).href;
  const pool = new ShardPool({ shards: 1, statsIntervalMs: 100, log: silentLogger(), childEntry, detachTimeoutMs: 1000 });
  cleanups.push(() => pool.stop());
  await pool.start(new AbortController().signal);
  const [deaf] = pool.pids();
  assert.ok(deaf);
  await pool.attach(KEY, primary.server!, { balancerConfig: CFG, endpoints: [ep('127.0.0.1', a.port)], idleTimeoutMs: 60_000, maxConnections: 100 });
  const inode = listenInode(port)!;
  assert.ok(holds(deaf, inode));
  assert.deepEqual(new Set(await burst(port, 2, 10)), new Set(['A']));

  await pool.detach(KEY);
  assert.equal(alive(deaf), false, 'the deaf shard was killed');
  await primary.stop();
  assert.equal(await connectError(port), 'ECONNREFUSED');
  // It is restarted (without the detached listener).
  const next = await pollValue('the shard restarted', 20_000, async () => pool.pids().find((p) => p !== deaf), 100);
  assert.equal(holds(next, inode), false);
  await pool.stop();
  assert.equal(alive(next), false);
});
