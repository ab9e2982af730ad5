import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../cluster/net.js';
import { serviceHealthBody, ServiceHealthServers, serviceHealthTargets } from '../../../proxy/service-health.js';
import type { EndpointInfo, ServicePortEntry } from '../../../proxy/types.js';

const ep = (ip: string, o: Partial<EndpointInfo> = {}): EndpointInfo => ({ ip, port: 80, ready: true, serving: true, terminating: false, nodeName: 'n1', ...o });
const entry = (key: string, o: Partial<ServicePortEntry>): ServicePortEntry => ({
  key, namespace: 'ns', service: 'svc', portName: 'p', protocol: 'TCP', clusterIPs: [], externalIPs: [], port: 80, nodePort: 30080,
  sessionAffinity: 'None', affinityTimeoutSeconds: 10800, internalTrafficPolicy: 'Local', endpoints: [], ...o,
});

test('targets: one per health check node port, counting distinct ready endpoint IPs on this node over the ports', () => {
  const t = serviceHealthTargets([
    entry('ns/svc:a/external', { healthCheckNodePort: 31000, endpoints: [ep('1'), ep('2', { nodeName: 'n2' }), ep('3', { ready: false })] }),
    entry('ns/svc:b/external', { healthCheckNodePort: 31000, endpoints: [ep('1', { port: 81 }), ep('4')] }),
    entry('ns/svc:a', { endpoints: [ep('9')] }),
  ], 'n1');
  assert.deepEqual([...t], [[31000, { namespace: 'ns', name: 'svc', localEndpoints: 2 }]]);
  assert.equal(serviceHealthBody({ namespace: 'ns', name: 'svc', localEndpoints: 2 }, true),
    '{\n\t"service": {\n\t\t"namespace": "ns",\n\t\t"name": "svc"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}');
});

let healthy = true;
const servers = new ServiceHealthServers({ host: '127.0.0.1', proxyHealthy: () => healthy });
after(() => servers.stop());

test('servers: 200 with local endpoints, 503 without or when the proxy is unhealthy; closed when the service goes', async () => {
  const port = await freePort();
  const get = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/any/path`);
    return { status: r.status, weight: r.headers.get('x-load-balancing-endpoint-weight'), type: r.headers.get('content-type'), body: JSON.parse(await r.text()) as unknown };
  };
  assert.equal(await servers.sync(new Map([[port, { namespace: 'ns', name: 'svc', localEndpoints: 1 }]])), true);
  assert.deepEqual(await get(), { status: 200, weight: '1', type: 'application/json', body: { service: { namespace: 'ns', name: 'svc' }, localEndpoints: 1, serviceProxyHealthy: true } });
  await servers.sync(new Map([[port, { namespace: 'ns', name: 'svc', localEndpoints: 0 }]]));
  assert.equal((await get()).status, 503);
  await servers.sync(new Map([[port, { namespace: 'ns', name: 'svc', localEndpoints: 3 }]]));
  healthy = false;
  const sick = await get();
  assert.deepEqual([sick.status, sick.weight, (sick.body as { serviceProxyHealthy: boolean }).serviceProxyHealthy], [503, '3', false]);
  healthy = true;
  await servers.sync(new Map());
  assert.deepEqual(servers.ports(), []);
  await assert.rejects(fetch(`http://127.0.0.1:${port}/`));
});

test('a port that cannot be opened is reported and retried', async () => {
  const taken = new ServiceHealthServers({ host: '127.0.0.1', proxyHealthy: () => true });
  const port = await freePort();
  await taken.sync(new Map([[port, { namespace: 'ns', name: 'a', localEndpoints: 1 }]]));
  try {
    assert.equal(await servers.sync(new Map([[port, { namespace: 'ns', name: 'b', localEndpoints: 1 }]])), false);
    assert.deepEqual(servers.ports(), []);
    await taken.stop();
    assert.equal(await servers.sync(new Map([[port, { namespace: 'ns', name: 'b', localEndpoints: 1 }]])), true);
    assert.deepEqual(servers.ports(), [port]);
  } finally {
    await taken.stop();
    await servers.sync(new Map());
  }
});
