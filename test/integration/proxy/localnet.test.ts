// CVE-2020-8558: while the proxy runs, a neighbouring host (a network namespace behind a veth,
// sending raw SYNs to 127.0.0.1 with this host's MAC) must not reach a service bound to loopback.
// The proxy DNATs host → ClusterIP traffic to a node address, as upstream's userspace proxier did, so
// it never needs net.ipv4.conf.all.route_localnet; and it keeps upstream's guard in INPUT
// (`-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`) for
// hosts where something else (an older dockerlet) left route_localnet=1.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { EndpointSlice, Service } from '../../../kube/api.js';
import { silentLogger } from '../../../lib/log.js';
import { Proxier } from '../../../proxy/proxier.js';
import { FakeInformer } from '../../../proxy/testing/fake-informer.js';
import { neighbour, type Neighbour } from './neighbour.js';

const PREFIX = 'DKLNB';
const CLUSTER_IP = `10.96.${200 + (process.pid % 50)}.${1 + (process.pid % 250)}`;
const ROUTE_LOCALNET = '/proc/sys/net/ipv4/conf/all/route_localnet';
const routeLocalnetBefore = readFileSync(ROUTE_LOCALNET, 'utf8').trim();
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  writeFileSync(ROUTE_LOCALNET, `${routeLocalnetBefore}\n`);
});

async function listen(host: string, reply: string): Promise<number> {
  const s = net.createServer({ allowHalfOpen: true }, (c) => { c.on('data', () => {}); c.on('end', () => c.end(reply)); c.on('error', () => c.destroy()); });
  await new Promise<void>((r) => s.listen(0, host, r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return (s.address() as net.AddressInfo).port;
}

function get(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host, port, allowHalfOpen: true }, () => c.end('hi'));
    let out = '';
    c.setTimeout(5000, () => c.destroy(new Error('timeout')));
    c.on('data', (d) => { out += d.toString(); });
    c.on('end', () => { c.end(); resolve(out); });
    c.on('error', reject);
  });
}

async function until<T>(f: () => Promise<T>, what: string): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try { return await f(); } catch (err) { last = err; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}: ${String(last)}`);
}

const guardRules = () => execFileSync('iptables', ['-w', '5', '-t', 'filter', '-S'], { encoding: 'utf8' })
  .split('\n').filter((l) => l.startsWith(`-A ${PREFIX}-`) && /! -s 127\.0\.0\.0\/8 -d 127\.0\.0\.0\/8 .*! --ctstate RELATED,ESTABLISHED,DNAT -j DROP$/.test(l));

test('a neighbouring host cannot reach loopback-only services while the proxy runs; host → ClusterIP still goes through it', async () => {
  const secret = await listen('127.0.0.1', 'loopback-only');
  const backendPort = await listen('127.0.0.2', 'from-backend');
  const service: Service = {
    metadata: { namespace: 'nb', name: 'web' },
    spec: { type: 'ClusterIP', clusterIP: CLUSTER_IP, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  };
  const slice: EndpointSlice = {
    metadata: { namespace: 'nb', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: backendPort, protocol: 'TCP' }],
    endpoints: [{ addresses: ['127.0.0.2'], conditions: { ready: true } }],
  };
  const proxier = new Proxier({
    services: new FakeInformer<Service>([service]), slices: new FakeInformer<EndpointSlice>([slice]), nodeName: 'nb-node', log: silentLogger(),
    chainPrefix: PREFIX, healthzPort: 0, healthzBindAddress: '127.0.0.1', metricsPort: 0, minSyncPeriodMs: 10, syncPeriodMs: 60_000, podBridgeInterface: '',
  });
  const ac = new AbortController();
  cleanups.push(() => proxier.stop());
  await proxier.start(ac.signal);
  const n: Neighbour = await neighbour();
  cleanups.push(() => n.remove());

  // The host's own traffic to the ClusterIP reaches the backend through the proxy's listener.
  assert.equal(await until(() => get(CLUSTER_IP, 80), 'host → ClusterIP through the proxy'), 'from-backend');
  const listenerPort = proxier.table()[0]!.listenerPort;
  const metricsPort = proxier.serverPorts().metrics!;

  // The probe works: the proxy's wildcard listener answers the neighbour at the veth address.
  assert.equal(await n.probe(n.hostIP, listenerPort), 'synack', 'control: a SYN to the host address is answered');
  // Loopback-only services (one of the test's, the proxy's own metrics) do not answer it.
  assert.notEqual(await n.probe('127.0.0.1', secret), 'synack', 'a loopback-only listener answered a neighbour');
  assert.notEqual(await n.probe('127.0.0.1', metricsPort), 'synack', 'the proxy metrics server (127.0.0.1) answered a neighbour');
  assert.equal(readFileSync(ROUTE_LOCALNET, 'utf8').trim(), routeLocalnetBefore, 'the proxy left net.ipv4.conf.all.route_localnet as it found it');

  // A host where something else set route_localnet=1: upstream's INPUT guard still drops the SYN.
  assert.equal(guardRules().length, 1, 'one loopback guard rule in the filter table');
  writeFileSync(ROUTE_LOCALNET, '1\n');
  try {
    assert.notEqual(await n.probe('127.0.0.1', secret), 'synack', 'with route_localnet=1 the guard must drop the SYN');
  } finally {
    writeFileSync(ROUTE_LOCALNET, `${routeLocalnetBefore}\n`);
  }
  assert.equal(await get(CLUSTER_IP, 80), 'from-backend');

  await proxier.stop();
  assert.deepEqual(guardRules(), [], 'a clean stop removes the guard with the other rules');
});
