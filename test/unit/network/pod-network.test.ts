// PodNetwork against fakes of Docker, the node informer, the API client and the host: the network is
// created on the Node's podCIDR and sandboxes get its name, routes to the other nodes go in and the
// condition reads RouteCreated; a network Docker refuses leaves the default bridge and NetworkUnavailable=True.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type Dockerode from 'dockerode';
import type { Node, NodeCondition } from '../../../kube/api.js';
import type { SharedInformers } from '../../../kube/shared-informers.js';
import type { KubeClient } from '../../../kube/types.js';
import type { HostNet } from '../../../agent/network/host.js';
import type { Route } from '../../../agent/network/plan.js';
import { PodNetwork } from '../../../agent/network/pod-network.js';
import { silentLogger } from '../../../lib/log.js';

function node(name: string, cidr: string | undefined, ip: string): Node {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name }, spec: cidr ? { podCIDR: cidr } : {}, status: { addresses: [{ type: 'InternalIP', address: ip }] } } as Node;
}

function fakes(nodes: Node[], createError?: Error) {
  const created: unknown[] = [];
  const patches: NodeCondition[] = [];
  const routes: Route[] = [];
  const chains: string[] = [];
  const docker = {
    getNetwork: () => ({ inspect: async () => { throw Object.assign(new Error('no such network'), { statusCode: 404 }); }, remove: async () => undefined }),
    createNetwork: async (body: unknown) => {
      if (createError) throw createError;
      created.push(body);
    },
  } as unknown as Dockerode;
  const informers = {
    get: () => ({ on: () => () => undefined, start: async () => undefined, stop: async () => undefined, list: () => nodes }),
  } as unknown as SharedInformers;
  const client = {
    patch: async (_path: string, body: { status: { conditions: NodeCondition[] } }) => {
      patches.push(...body.status.conditions);
      return {};
    },
  } as unknown as KubeClient;
  const host: HostNet = {
    listRoutes: async () => [...routes],
    replaceRoute: async (r) => { routes.push(r); },
    deleteRoute: async () => undefined,
    uplinkMtu: async () => 1450,
    syncChain: async (table, chain, from) => { chains.push(`${table}/${chain}<-${from}`); },
    chainExists: async () => true,
    removeChain: async () => undefined,
  };
  return { docker, informers, client, host, created, patches, routes, chains };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out: ${what}`);
}

test('a Node with a podCIDR: dockerlet0 created on it, routes to the others, NetworkUnavailable=False RouteCreated', async () => {
  const f = fakes([node('a', '10.100.0.0/24', '10.110.0.11'), node('b', '10.100.1.0/24', '10.110.0.12')]);
  const pn = new PodNetwork({ docker: f.docker, client: f.client, informers: f.informers, nodeName: 'a', host: f.host, log: silentLogger() }, { nonMasqueradeCIDR: '10.100.0.0/16', waitForCidrMs: 3_000 });
  const ac = new AbortController();
  await pn.start(ac.signal);
  try {
    assert.equal(pn.name(), 'dockerlet0');
    assert.equal(pn.podCIDR(), '10.100.0.0/24');
    const body = f.created[0] as { IPAM: { Config: { Subnet: string; Gateway: string }[] }; Options: Record<string, string> };
    assert.deepEqual(body.IPAM.Config, [{ Subnet: '10.100.0.0/24', Gateway: '10.100.0.1' }]);
    assert.equal(body.Options['com.docker.network.driver.mtu'], '1450');
    assert.deepEqual(f.chains, ['nat/DOCKERLET-POSTROUTING<-POSTROUTING', 'filter/DOCKERLET-FORWARD<-DOCKER-USER']);
    await until('condition', () => f.patches.length > 0);
    assert.deepEqual(f.routes, [{ dst: '10.100.1.0/24', via: '10.110.0.12' }]);
    assert.equal(f.patches[0]?.status, 'False');
    assert.equal(f.patches[0]?.reason, 'RouteCreated');
  } finally {
    ac.abort();
    await pn.stop();
  }
});

test('Docker refuses the network: sandboxes stay on the default bridge and NetworkUnavailable=True', async () => {
  const f = fakes([node('a', '10.100.0.0/24', '10.110.0.11')], Object.assign(new Error('Pool overlaps with other one on this address space'), { statusCode: 403 }));
  const pn = new PodNetwork({ docker: f.docker, client: f.client, informers: f.informers, nodeName: 'a', host: f.host, log: silentLogger() }, { waitForCidrMs: 300 });
  const ac = new AbortController();
  await pn.start(ac.signal);
  try {
    assert.equal(pn.name(), undefined);
    await until('condition', () => f.patches.length > 0);
    assert.equal(f.patches[0]?.status, 'True');
    assert.equal(f.patches[0]?.reason, 'NoRouteCreated');
    assert.match(f.patches[0]?.message ?? '', /Pool overlaps/);
    assert.deepEqual(f.routes, []);
  } finally {
    ac.abort();
    await pn.stop();
  }
});

test('a Node without a podCIDR (the cluster does not allocate): nothing changes, start() returns after the grace, not the 10-minute bound', { timeout: 60_000 }, async () => {
  const f = fakes([node('a', undefined, '10.110.0.11')]);
  const pn = new PodNetwork({ docker: f.docker, client: f.client, informers: f.informers, nodeName: 'a', host: f.host, log: silentLogger() }, { waitForCidrMs: 600_000, noCidrGraceMs: 200 });
  const ac = new AbortController();
  await pn.start(ac.signal);
  ac.abort();
  await pn.stop();
  assert.equal(pn.name(), undefined);
  assert.deepEqual([f.created, f.patches, f.routes, f.chains], [[], [], [], []]);
});
