// The Proxier applies an endpoint-only EndpointSlice change to the running listener at once (no
// sync round, no iptables write), as upstream's userspace proxier did, and observes it in
// kubeproxy_network_programming_duration_seconds; a change that needs rules (last endpoint gone)
// still waits for the sync. The sync interval is a minute here, so only the in-place path can pass.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { EndpointSlice, Service } from '../../../kube/api.js';
import { silentLogger } from '../../../lib/log.js';
import { Proxier } from '../../../proxy/proxier.js';
import { FakeInformer } from '../../../proxy/testing/fake-informer.js';
import type { IptablesRunner } from '../../../proxy/iptables.js';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

async function backend(host: string, port: number, name: string): Promise<number> {
  const s = net.createServer((c) => { c.on('error', () => c.destroy()); c.end(name); });
  await new Promise<void>((r) => s.listen(port, host, r));
  cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
  return (s.address() as net.AddressInfo).port;
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port });
    let out = '';
    c.on('data', (d) => { out += d.toString(); });
    c.on('end', () => resolve(out));
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
  spec: { type: 'ClusterIP', clusterIP: '10.96.7.7', ports: [{ name: 'http', port: 80 }] },
};
const slice = (ips: string[], port: number, trigger?: string): EndpointSlice => ({
  metadata: {
    namespace: 'default', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' },
    ...(trigger ? { annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': trigger } } : {}),
  },
  addressType: 'IPv4',
  ports: [{ name: 'http', port, protocol: 'TCP' }],
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
});

test('an endpoint-only slice change reaches the listener without a sync; a refusal change waits for one', async () => {
  const port = await backend('127.0.0.2', 0, 'old');
  await backend('127.0.0.3', port, 'new');
  const services = new FakeInformer<Service>([service]);
  const slices = new FakeInformer<EndpointSlice>([slice(['127.0.0.2'], port)]);
  const restores: string[] = [];
  const runner: IptablesRunner = { listBuiltins: async () => ({ nat: '', filter: '' }), restore: async (input) => { restores.push(input); } };
  const proxier = new Proxier({
    services, slices, nodeName: 'n1', log: silentLogger(), iptablesRunner: runner, chainPrefix: 'DKEU',
    healthzPort: -1, metricsPort: -1, minSyncPeriodMs: 60_000, syncPeriodMs: 600_000, bindAddress: '127.0.0.1', claimPorts: false,
  });
  cleanups.push(() => proxier.stop());
  await proxier.start(new AbortController().signal);
  await until(() => proxier.table().length === 1 && restores.length === 1, 'the first sync');
  const listenerPort = proxier.table()[0]!.listenerPort;
  assert.equal(await get(listenerPort), 'old');
  const syncs = (await proxier.metrics.registry.getSingleMetricAsString('kubeproxy_sync_proxy_rules_duration_seconds'));

  slices.upsert(slice(['127.0.0.3'], port, new Date().toISOString()));
  // Synchronous: the handler itself set the new endpoints.
  assert.deepEqual(proxier.table()[0]!.usable, [`127.0.0.3:${port}`]);
  assert.equal(await get(listenerPort), 'new');
  assert.equal(proxier.table()[0]!.listenerPort, listenerPort, 'same listener');
  assert.equal(restores.length, 1, 'no iptables write');
  assert.equal(await proxier.metrics.registry.getSingleMetricAsString('kubeproxy_sync_proxy_rules_duration_seconds'), syncs, 'no sync ran');
  const prog = await proxier.metrics.registry.getSingleMetricAsString('kubeproxy_network_programming_duration_seconds');
  assert.match(prog, /^kubeproxy_network_programming_duration_seconds_count 1$/m);

  // The last endpoint leaves: the REJECT rule is needed, so nothing changes until a sync.
  slices.upsert(slice([], port, new Date().toISOString()));
  assert.deepEqual(proxier.table()[0]!.usable, [`127.0.0.3:${port}`], 'left for the sync');
  await proxier.syncNow();
  assert.deepEqual(proxier.table()[0]!.usable, []);
  assert.equal(restores.length, 2);
  assert.match(restores.at(-1)!, /-A DKEU-SERVICES .*default\/web:http has no endpoints.* -j REJECT/);
  assert.match(await proxier.metrics.registry.getSingleMetricAsString('kubeproxy_network_programming_duration_seconds'), /^kubeproxy_network_programming_duration_seconds_count 2$/m);
});
