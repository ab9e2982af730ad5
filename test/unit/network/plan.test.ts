// The pod network's pure plans (agent/network/plan.ts, routes.ts) and the bed's LAN plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../../../kube/api.js';
import type { HostNet } from '../../../agent/network/host.js';
import {
  defaultRouteInterface, networkMatches, nodePodCIDR, parseRoutes, planPodNetwork, planRoutes, type Route,
} from '../../../agent/network/plan.js';
import { networkCondition, syncRoutes } from '../../../agent/network/routes.js';
import { egressWatchScript } from '../../cluster/egress-watch.js';
import { pickLanIndex, planLan } from '../../cluster/lan.js';

function node(name: string, cidr?: string, ip?: string, extra: Partial<Node['metadata']> = {}): Node {
  return {
    apiVersion: 'v1', kind: 'Node', metadata: { name, ...extra },
    spec: cidr ? { podCIDR: cidr } : {},
    status: ip ? { addresses: [{ type: 'Hostname', address: name }, { type: 'InternalIP', address: ip }] } : {},
  } as Node;
}

test('planPodNetwork: gateway .1, uplink MTU, Docker masquerade off, kubenet masquerade outside the non-masquerade CIDR', () => {
  const p = planPodNetwork({ podCIDR: '10.100.3.7/24', mtu: 1450, nonMasqueradeCIDR: '10.100.0.0/16' });
  assert.equal(p.name, 'dockerlet0');
  assert.equal(p.subnet, '10.100.3.0/24');
  assert.equal(p.gateway, '10.100.3.1');
  assert.deepEqual(p.create.IPAM.Config, [{ Subnet: '10.100.3.0/24', Gateway: '10.100.3.1' }]);
  assert.equal(p.create.Options['com.docker.network.driver.mtu'], '1450');
  assert.equal(p.create.Options['com.docker.network.bridge.enable_ip_masquerade'], 'false');
  assert.equal(p.create.Options['com.docker.network.bridge.name'], 'dockerlet0');
  assert.deepEqual(p.nat[0]?.slice(0, 10), ['-s', '10.100.3.0/24', '!', '-d', '10.100.0.0/16', '-m', 'addrtype', '!', '--dst-type', 'LOCAL']);
  assert.equal(p.nat[0]?.at(-1), 'MASQUERADE');
  assert.deepEqual(p.filter.map((r) => r.slice(0, 4)), [['-s', '10.100.0.0/16', '-d', '10.100.3.0/24'], ['-s', '10.100.3.0/24', '-d', '10.100.0.0/16']]);
});

test('planPodNetwork: kubenet defaults (10.0.0.0/8, MTU 1460 when unknown) and bad CIDRs refused', () => {
  const p = planPodNetwork({ podCIDR: '10.244.1.0/24', mtu: 0 });
  assert.equal(p.mtu, 1460);
  assert.ok(p.nat[0]?.includes('10.0.0.0/8'));
  assert.throws(() => planPodNetwork({ podCIDR: 'fd00::/64', mtu: 1500 }), /not an IPv4 CIDR/);
  assert.throws(() => planPodNetwork({ podCIDR: '10.0.0.0/31', mtu: 1500 }), /\/30 or wider/);
  assert.throws(() => planPodNetwork({ podCIDR: '10.0.0.0/24', mtu: 1500, nonMasqueradeCIDR: 'x' }), /nonMasqueradeCIDR/);
});

test('networkMatches: adopt a bridge with the same subnet only', () => {
  const p = planPodNetwork({ podCIDR: '10.100.3.0/24', mtu: 1500 });
  assert.equal(networkMatches(p, { Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.100.3.0/24' }] } }), true);
  assert.equal(networkMatches(p, { Driver: 'bridge', IPAM: { Config: [{ Subnet: '10.100.4.0/24' }] } }), false);
  assert.equal(networkMatches(p, { Driver: 'macvlan', IPAM: { Config: [{ Subnet: '10.100.3.0/24' }] } }), false);
});

test('nodePodCIDR: the first IPv4 of podCIDRs, else podCIDR', () => {
  assert.equal(nodePodCIDR({ metadata: { name: 'a' }, spec: { podCIDRs: ['fd00::/64', '10.1.2.0/24'] } } as unknown as Node), '10.1.2.0/24');
  assert.equal(nodePodCIDR(node('a', '10.9.0.0/24')), '10.9.0.0/24');
  assert.equal(nodePodCIDR(node('a')), undefined);
  assert.equal(nodePodCIDR(undefined), undefined);
});

test('planRoutes: one route per other node, corrected when wrong, stale ones removed, ours and bad ones skipped', () => {
  const nodes = [
    node('self', '10.100.0.0/24', '10.110.0.11'),
    node('b', '10.100.1.0/24', '10.110.0.12'),
    node('c', '10.100.2.0/24', '10.110.0.13'),
    node('no-cidr', undefined, '10.110.0.14'),
    node('no-ip', '10.100.5.0/24'),
    node('overlap', '10.100.0.0/25', '10.110.0.16'),
    node('gw-inside', '10.100.7.0/24', '10.100.7.9'),
    node('going', '10.100.8.0/24', '10.110.0.18', { deletionTimestamp: '2026-01-01T00:00:00Z' }),
  ];
  const current: Route[] = [
    { dst: '10.100.1.0/24', via: '10.110.0.12' }, // right: kept
    { dst: '10.100.2.0/24', via: '10.110.0.99' }, // wrong gateway: replaced
    { dst: '10.100.9.0/24', via: '10.110.0.19' }, // node gone: removed
  ];
  const plan = planRoutes('self', nodes, current);
  assert.deepEqual(plan.desired, [{ dst: '10.100.1.0/24', via: '10.110.0.12' }, { dst: '10.100.2.0/24', via: '10.110.0.13' }]);
  assert.deepEqual(plan.replace, [{ dst: '10.100.2.0/24', via: '10.110.0.13' }]);
  assert.deepEqual(plan.remove, [{ dst: '10.100.9.0/24', via: '10.110.0.19' }]);
});

test('parseRoutes and defaultRouteInterface read ip -j and /proc/net/route', () => {
  assert.deepEqual(parseRoutes('[{"dst":"10.100.1.0/24","gateway":"10.110.0.12","dev":"eth0","protocol":"211"},{"dst":"default","gateway":"x"}]\n'), [{ dst: '10.100.1.0/24', via: '10.110.0.12' }]);
  assert.deepEqual(parseRoutes(''), []);
  const table = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nbr0\t0000640A\t00000000\t0001\t0\t0\t0\t00FFFFFF\neth0\t00000000\tFE006E0A\t0003\t0\t0\t0\t00000000\n';
  assert.equal(defaultRouteInterface(table), 'eth0');
  assert.equal(defaultRouteInterface('Iface\tDestination\n'), undefined);
});

test('networkCondition: RouteCreated / NoRouteCreated as the route controller, written only on change', () => {
  const now = new Date('2026-12-04T10:00:00.123Z');
  const c = networkCondition(node('a'), true, 'ok', now);
  assert.deepEqual(c, { type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated', message: 'ok', lastHeartbeatTime: '2026-12-04T10:00:00Z', lastTransitionTime: '2026-12-04T10:00:00Z' });
  const withIt = { ...node('a'), status: { conditions: [c!] } } as Node;
  assert.equal(networkCondition(withIt, true, 'ok', now), undefined);
  assert.equal(networkCondition(withIt, false, 'boom', now)?.reason, 'NoRouteCreated');
  assert.equal(networkCondition(withIt, false, 'boom', now)?.status, 'True');
});

test('syncRoutes applies the plan, collects errors and goes on', async () => {
  const calls: string[] = [];
  const host: HostNet = {
    listRoutes: async () => [{ dst: '10.100.9.0/24', via: '10.110.0.19' }],
    replaceRoute: async (r) => {
      calls.push(`replace ${r.dst}`);
      if (r.dst === '10.100.1.0/24') throw new Error('Nexthop has invalid gateway');
    },
    deleteRoute: async (r) => { calls.push(`del ${r.dst}`); },
    uplinkMtu: async () => 1500,
    syncChain: async () => undefined,
    chainExists: async () => true,
    removeChain: async () => undefined,
  };
  const r = await syncRoutes(host, 'self', [node('self', '10.100.0.0/24', '10.110.0.11'), node('b', '10.100.1.0/24', '10.110.0.12'), node('c', '10.100.2.0/24', '10.110.0.13')]);
  assert.deepEqual(calls, ['del 10.100.9.0/24', 'replace 10.100.1.0/24', 'replace 10.100.2.0/24']);
  assert.equal(r.added, 1);
  assert.equal(r.removed, 1);
  assert.equal(r.errors.length, 1);
});

test('the bed LAN plan: short interface names, addresses inside 10.110.<k>.0/24, a free index', () => {
  const p = planLan(3, 3);
  assert.equal(p.cidr, '10.110.3.0/24');
  assert.equal(p.hostIP, '10.110.3.1');
  assert.equal(p.gateway, '10.110.3.254');
  assert.deepEqual(p.nodes.map((n) => [n.name, n.ip, n.netns]), [['node-b3-1', '10.110.3.11', 'dkl-b3-n1'], ['node-b3-2', '10.110.3.12', 'dkl-b3-n2'], ['node-b3-3', '10.110.3.13', 'dkl-b3-n3']]);
  for (const name of [p.hostIf, p.hostPeer, p.bridge, ...p.nodes.map((n) => n.lanIf)]) assert.ok(name.length <= 15, name);
  assert.equal(pickLanIndex('2: eth0 inet 192.0.2.2/24\n9: dklb0h inet 10.110.0.1/24', 'dkl-b1-lan\n'), 2);
  assert.throws(() => planLan(256, 3), RangeError);
});

test('the bed egress watch: counters only, toward the bed ranges not via its LAN veth, and anything forwarded out of the LAN', () => {
  const s = egressWatchScript('dockerlet_bed_b0', 'dklb0h', ['10.100.0.0/16', '10.110.0.0/24']);
  assert.match(s, /ip daddr \{ 10\.100\.0\.0\/16, 10\.110\.0\.0\/24 \} oifname != "dklb0h" counter/);
  assert.match(s, /iifname "dklb0h" counter/);
  assert.doesNotMatch(s, /\b(drop|reject)\b/);
});
