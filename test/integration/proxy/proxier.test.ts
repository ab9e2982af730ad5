// The Proxier driven by in-memory informers (no API server): listeners follow Services and
// EndpointSlices, portals are rendered to a recording iptables runner, health and metrics serve.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { EndpointSlice, Node, Service } from '../../../kube/api.js';
import { silentLogger } from '../../../lib/log.js';
import { Proxier } from '../../../proxy/proxier.js';
import { FakeInformer } from '../../../proxy/testing/fake-informer.js';
import type { IptablesRunner } from '../../../proxy/iptables.js';
import { freePort } from '../../cluster/net.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function backend(host: string, name: string): Promise<number> {
  const s = net.createServer({ allowHalfOpen: true }, (c) => { c.on('data', () => {}); c.on('end', () => c.end(name)); c.on('error', () => c.destroy()); });
  await new Promise<void>((r) => s.listen(0, host, r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return (s.address() as net.AddressInfo).port;
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => c.end('hi'));
    let out = '';
    c.on('data', (d) => { out += d.toString(); });
    c.on('end', () => { c.end(); resolve(out); });
    c.on('error', reject);
  });
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const service: Service = {
  metadata: { namespace: 'default', name: 'web' },
  spec: { type: 'NodePort', clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
};
const slice = (eps: { ip: string; port: number }[]): EndpointSlice => ({
  metadata: { namespace: 'default', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: eps[0]?.port ?? 1, protocol: 'TCP' }],
  endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: true } })),
});

test('listeners, endpoints, portals, health and metrics follow the informers', async () => {
  const port = await backend('127.0.0.2', 'b2');
  // Same port number on a second loopback address, so one slice port fits both endpoints.
  const s3 = net.createServer({ allowHalfOpen: true }, (c) => { c.on('data', () => {}); c.on('end', () => c.end('b3')); });
  await new Promise<void>((r) => s3.listen(port, '127.0.0.3', r));
  cleanups.push(() => new Promise<void>((r) => s3.close(() => r())));

  const services = new FakeInformer<Service>([service]);
  const slices = new FakeInformer<EndpointSlice>([slice([{ ip: '127.0.0.2', port }])]);
  const restores: string[] = [];
  const runner: IptablesRunner = { listBuiltins: async () => ({ nat: '', filter: '' }), restore: async (input) => { restores.push(input); } };
  const proxier = new Proxier({
    services, slices, nodeName: 'n1', log: silentLogger(), iptablesRunner: runner, chainPrefix: 'DKLT',
    healthzPort: 0, healthzBindAddress: '127.0.0.1', metricsPort: 0, minSyncPeriodMs: 10, syncPeriodMs: 60_000, bindAddress: '127.0.0.1',
  });
  const ac = new AbortController();
  cleanups.push(() => proxier.stop());
  await proxier.start(ac.signal);
  await until(() => proxier.table().length === 1, 'the service port listener');
  const row = proxier.table()[0]!;
  assert.equal(row.key, 'default/web:http');
  assert.deepEqual(row.usable, [`127.0.0.2:${port}`]);
  assert.equal(await get(row.listenerPort), 'b2');
  await until(() => restores.length > 0, 'portals applied');
  assert.match(restores.at(-1)!, new RegExp(`-A DKLT-PORTALS-HOST -d 10\\.96\\.1\\.1/32 -p tcp .* --dport 80 -j DNAT --to-destination 127\\.0\\.0\\.1:${row.listenerPort}`));
  assert.match(restores.at(-1)!, new RegExp(`-A DKLT-NODEPORT-HOST -p tcp .* --dport 30080 -j DNAT --to-destination 127\\.0\\.0\\.1:${row.listenerPort}`));
  assert.match(restores.at(-1)!, new RegExp(`-A DKLT-PORTALS-CONTAINER -d 10\\.96\\.1\\.1/32 .* -j DNAT --to-destination 127\\.0\\.0\\.1:${row.listenerPort}`), 'bound to one address ⇒ container DNAT');
  assert.deepEqual(proxier.claimedPorts(), ['tcp/0.0.0.0:30080'], 'the NodePort is held open');

  // Endpoint update in place: same listener port, two endpoints, round robin reaches both.
  slices.upsert(slice([{ ip: '127.0.0.2', port }, { ip: '127.0.0.3', port }]));
  await until(() => proxier.table()[0]!.usable.length === 2, 'two endpoints');
  assert.equal(proxier.table()[0]!.listenerPort, row.listenerPort);
  const got = new Set([await get(row.listenerPort), await get(row.listenerPort)]);
  assert.deepEqual([...got].sort(), ['b2', 'b3']);

  const { health, metrics } = proxier.serverPorts();
  const hz = await fetch(`http://127.0.0.1:${health}/healthz`);
  assert.equal(hz.status, 200);
  assert.ok('lastUpdated' in (await hz.json() as object));
  const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
  assert.match(text, /^kubeproxy_sync_proxy_rules_duration_seconds_count \d+$/m);
  assert.match(text, /^kubeproxy_sync_proxy_rules_last_timestamp_seconds \d/m);
  assert.match(text, /^kubeproxy_sync_proxy_rules_endpoint_changes_total 1$/m);
  assert.match(text, /^dockerlet_proxy_connections_total\{service_port="default\/web:http",protocol="TCP"\} 3$/m);
  assert.match(text, /^dockerlet_proxy_errors_total\{service_port="default\/web:http",protocol="TCP",kind="reject"\} 0$/m);

  // No endpoints left: the filter refuses new connections to the listener (REJECT); back with one.
  assert.doesNotMatch(restores.at(-1)!, /-j REJECT/);
  slices.upsert(slice([]));
  await until(() => /-j REJECT/.test(restores.at(-1)!), 'the REJECT rule');
  assert.match(restores.at(-1)!, new RegExp(`^-A DKLT-SERVICES -p tcp -m comment --comment "default/web:http has no endpoints" -m tcp --dport ${row.listenerPort} -j REJECT --reject-with icmp-port-unreachable$`, 'm'));
  slices.upsert(slice([{ ip: '127.0.0.2', port }]));
  // Only what changed is written (restore-plan.ts): the batch deletes that one rule.
  await until(() => /^-D DKLT-SERVICES .*-j REJECT/m.test(restores.at(-1)!), 'the REJECT rule removed');
  assert.doesNotMatch(restores.at(-1)!, /^-A DKLT-/m, 'no rule of ours added');
  assert.equal(await get(row.listenerPort), 'b2');

  // Service deleted: the listener closes.
  services.remove('default/web');
  await until(() => proxier.table().length === 0, 'listener removal');
  await assert.rejects(get(row.listenerPort), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  assert.deepEqual(proxier.claimedPorts(), [], 'the NodePort is released');

  await proxier.stop();
  assert.match(restores.at(-1)!, /^-X DKLT-PORTALS-HOST$/m, 'stop removes the chains');
  assert.match(restores.at(-1)!, /^-X DKLT-SERVICES$/m, 'stop removes the filter chain');
});

test('ports another process holds: Warning Events (NodePort on the Node, health check port on the Service), the sync still succeeds (/healthz 200, no retry loop), both taken once free', async () => {
  const [nodePort, hcPort] = [await freePort(), await freePort()];
  const squatters = [net.createServer(), net.createServer()];
  const free = async (): Promise<void> => { await Promise.all(squatters.map((q) => new Promise<void>((r) => q.close(() => r())))); };
  await Promise.all([nodePort, hcPort].map((p, i) => new Promise<void>((r) => squatters[i]!.listen(p, '127.0.0.1', r))));
  cleanups.push(free);
  const svc: Service = {
    metadata: { namespace: 'default', name: 'web' },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.1.1', externalTrafficPolicy: 'Local', healthCheckNodePort: hcPort, ports: [{ name: 'http', port: 80, nodePort }] },
  };
  const restores: string[] = [];
  let lists = 0;
  const events: { kind: string; name: string; type: string; reason: string; message: string }[] = [];
  const proxier = new Proxier({
    services: new FakeInformer<Service>([svc]), slices: new FakeInformer<EndpointSlice>([]), nodeName: 'n1', log: silentLogger(),
    iptablesRunner: { listBuiltins: async () => { lists++; return { nat: '', filter: '' }; }, restore: async (i) => { restores.push(i); } }, chainPrefix: 'DKLT',
    healthzPort: 0, healthzBindAddress: '127.0.0.1', metricsPort: -1, minSyncPeriodMs: 10, syncPeriodMs: 60_000, bindAddress: '127.0.0.1',
    events: { event: (o, type, reason, message) => { events.push({ kind: o.kind, name: o.namespace ? `${o.namespace}/${o.name}` : o.name, type, reason, message }); } },
  });
  cleanups.push(() => proxier.stop());
  await proxier.start(new AbortController().signal);
  await until(() => restores.length > 0, 'the first sync');
  const seen = new Map(events.map((e) => [e.reason, e]));
  assert.deepEqual(seen.get('FailedToClaimPort') && [seen.get('FailedToClaimPort')!.kind, seen.get('FailedToClaimPort')!.name, seen.get('FailedToClaimPort')!.type], ['Node', 'n1', 'Warning']);
  assert.deepEqual(seen.get('FailedToStartServiceHealthcheck') && [seen.get('FailedToStartServiceHealthcheck')!.kind, seen.get('FailedToStartServiceHealthcheck')!.name], ['Service', 'default/web']);
  assert.match(seen.get('FailedToClaimPort')?.message ?? '', new RegExp(`tcp/0\\.0\\.0\\.0:${nodePort}.*EADDRINUSE`));
  assert.match(seen.get('FailedToStartServiceHealthcheck')?.message ?? '', new RegExp(`healthcheck "default/web" on port ${hcPort}:.*EADDRINUSE`));
  // The sync counts as done: the proxy is healthy and does not go again every minSyncPeriod.
  assert.ok(proxier.health.lastUpdated() > 0, 'the sync with a held health check port was a successful sync');
  const healthz = await fetch(`http://127.0.0.1:${proxier.serverPorts().health!}/healthz`);
  assert.equal(healthz.status, 200);
  const listsAfterFirst = lists;
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(lists - listsAfterFirst <= 1, `no sync loop while the port is held (${lists - listsAfterFirst} more syncs with minSyncPeriod 10 ms)`);
  assert.match(restores.at(-1)!, new RegExp(`-A DKLT-NODEPORT-HOST -p tcp .* --dport ${nodePort} -j DNAT`));
  assert.deepEqual(proxier.claimedPorts(), []);
  await free();
  proxier.requestSync();
  await until(() => proxier.claimedPorts().length > 0, 'the claim');
  assert.deepEqual(proxier.claimedPorts(), [`tcp/0.0.0.0:${nodePort}`]);
  assert.equal((await fetch(`http://127.0.0.1:${hcPort}/`)).status, 503, 'the health check server answers (no local endpoints)');
  await proxier.stop();
  assert.deepEqual(proxier.claimedPorts(), []);
});

test('nothing is programmed before both informers have synced', async () => {
  const services = new FakeInformer<Service>([service]);
  const slices = new FakeInformer<EndpointSlice>([], { synced: false });
  const restores: string[] = [];
  const proxier = new Proxier({
    services, slices, nodeName: 'n1', log: silentLogger(), iptablesRunner: { listBuiltins: async () => ({ nat: '', filter: '' }), restore: async (i) => { restores.push(i); } },
    healthzPort: -1, metricsPort: -1, minSyncPeriodMs: 10, ownInformers: false, bindAddress: '127.0.0.1',
  });
  cleanups.push(() => proxier.stop());
  await proxier.start(new AbortController().signal);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(proxier.table().length, 0);
  assert.equal(restores.length, 0);
  await slices.start();
  await until(() => proxier.table().length === 1, 'first sync after informers synced');
});

test('topology hints: with every endpoint hinted, the node\'s zone label picks its endpoints; a relabelled node follows; no zone → all', async () => {
  const port = await backend('127.0.0.4', 'zone-a');
  const sb = net.createServer({ allowHalfOpen: true }, (c) => { c.on('data', () => {}); c.on('end', () => c.end('zone-b')); c.on('error', () => c.destroy()); });
  await new Promise<void>((r) => sb.listen(port, '127.0.0.5', r));
  cleanups.push(() => new Promise<void>((r) => sb.close(() => r())));
  const hinted: EndpointSlice = {
    metadata: { namespace: 'default', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4', ports: [{ name: 'http', port, protocol: 'TCP' }],
    endpoints: [
      { addresses: ['127.0.0.4'], conditions: { ready: true }, zone: 'a', hints: { forZones: [{ name: 'a' }] } },
      { addresses: ['127.0.0.5'], conditions: { ready: true }, zone: 'b', hints: { forZones: [{ name: 'b' }] } },
    ],
  };
  const node = (zone?: string): Node => ({ metadata: { name: 'n1', labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} } });
  const nodes = new FakeInformer<Node>([node('a')]);
  const proxier = new Proxier({
    services: new FakeInformer<Service>([service]), slices: new FakeInformer<EndpointSlice>([hinted]), nodes, nodeName: 'n1', log: silentLogger(),
    iptables: false, healthzPort: -1, metricsPort: -1, minSyncPeriodMs: 10, syncPeriodMs: 60_000, bindAddress: '127.0.0.1',
  });
  cleanups.push(() => proxier.stop());
  await proxier.start(new AbortController().signal);
  await until(() => proxier.table().length === 1, 'the service port listener');
  const lp = proxier.table()[0]!.listenerPort;
  const four = async () => [await get(lp), await get(lp), await get(lp), await get(lp)];
  assert.deepEqual(proxier.table()[0]!.usable, [`127.0.0.4:${port}`]);
  assert.deepEqual(await four(), ['zone-a', 'zone-a', 'zone-a', 'zone-a']);
  nodes.upsert(node('b'));
  await until(() => proxier.table()[0]!.usable[0] === `127.0.0.5:${port}`, 'zone b selection');
  assert.deepEqual(await four(), ['zone-b', 'zone-b', 'zone-b', 'zone-b']);
  // A zone no endpoint is hinted for, or none at all: hints are ignored.
  nodes.upsert(node('c'));
  await until(() => proxier.table()[0]!.usable.length === 2, 'both endpoints for zone c');
  nodes.upsert(node());
  await until(() => proxier.table()[0]!.usable.length === 2, 'both endpoints without a zone');
  assert.deepEqual((await four()).sort(), ['zone-a', 'zone-a', 'zone-b', 'zone-b']);
});
