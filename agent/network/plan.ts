// Pure plans for the node's pod network, as kubenet (v1.23 dockershim/network/kubenet) and flannel's
// host-gw backend did it: the bridge of spec.podCIDR with its gateway at the first address, the
// masquerade rule `! -d <nonMasqueradeCIDR>` (kubenet's single POSTROUTING rule), and one route per
// other node's podCIDR via that node's InternalIP (flannel host-gw; the route controller's job).
import type { Node } from '../../kube/api.js';
import { cidrContains, isIPv4, parseCidr4 } from '../../proxy/cidr.js';

/** Routes this agent owns carry this protocol number (`ip route ... proto 211`): nothing else is touched. */
export const ROUTE_PROTO = 211;
export const DEFAULT_NETWORK_NAME = 'dockerlet0';
/** kubenet's --non-masquerade-cidr default (deprecated flag); the bed sets the cluster CIDR. */
export const DEFAULT_NON_MASQUERADE_CIDR = '10.0.0.0/8';
/** kubenet's fallback MTU when no interface tells. */
export const FALLBACK_MTU = 1460;
export const NAT_CHAIN = 'DOCKERLET-POSTROUTING';
export const FILTER_CHAIN = 'DOCKERLET-FORWARD';

export interface PodNetworkPlan {
  name: string;
  subnet: string;
  gateway: string;
  mtu: number;
  /** POST /networks/create body (Docker Engine API 1.41). */
  create: {
    Name: string;
    Driver: 'bridge';
    CheckDuplicate: true;
    IPAM: { Driver: 'default'; Config: { Subnet: string; Gateway: string }[] };
    Options: Record<string, string>;
    Labels: Record<string, string>;
  };
  /** iptables rules (arguments after `-t <table> -A <chain>`) of our own chains. */
  nat: string[][];
  filter: string[][];
}

export const NETWORK_LABEL = 'io.dockerlet.pod-network';

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** The first IPv4 CIDR of a Node (spec.podCIDRs[0], else spec.podCIDR), canonical; kubenet keeps only the first. */
export function nodePodCIDR(node: Node | undefined): string | undefined {
  const spec = node?.spec as { podCIDR?: string; podCIDRs?: string[] } | undefined;
  for (const c of [...(spec?.podCIDRs ?? []), spec?.podCIDR]) {
    const p = c ? parseCidr4(c) : undefined;
    if (p) return p;
  }
  return undefined;
}

/** The node's InternalIP (IPv4), as the route controller and flannel use it. */
export function nodeInternalIP(node: Node): string | undefined {
  return node.status?.addresses?.find((a) => a.type === 'InternalIP' && isIPv4(a.address))?.address;
}

/** Plans the Docker bridge network for a podCIDR (must be at most /30 wide enough for a gateway and pods). */
export function planPodNetwork(p: { podCIDR: string; mtu: number; name?: string; nonMasqueradeCIDR?: string }): PodNetworkPlan {
  const subnet = parseCidr4(p.podCIDR);
  const bits = subnet ? Number(subnet.split('/')[1]) : NaN;
  if (!subnet || bits > 30) throw new RangeError(`podCIDR ${JSON.stringify(p.podCIDR)} is not an IPv4 CIDR of /30 or wider`);
  const nonMasq = parseCidr4(p.nonMasqueradeCIDR ?? DEFAULT_NON_MASQUERADE_CIDR);
  if (!nonMasq) throw new RangeError(`nonMasqueradeCIDR ${JSON.stringify(p.nonMasqueradeCIDR)} is not an IPv4 CIDR`);
  const name = p.name ?? DEFAULT_NETWORK_NAME;
  const gateway = intToIp(ipToInt(subnet.split('/')[0] ?? '') + 1);
  const mtu = Number.isInteger(p.mtu) && p.mtu >= 576 ? p.mtu : FALLBACK_MTU;
  return {
    name, subnet, gateway, mtu,
    create: {
      Name: name,
      Driver: 'bridge',
      CheckDuplicate: true,
      IPAM: { Driver: 'default', Config: [{ Subnet: subnet, Gateway: gateway }] },
      Options: {
        'com.docker.network.bridge.name': name,
        // Docker's own rule (`-s subnet ! -o bridge -j MASQUERADE`) would SNAT pod→remote-pod traffic to
        // the node address; ours below keeps pod source IPs inside the cluster (kubenet semantics).
        'com.docker.network.bridge.enable_ip_masquerade': 'false',
        'com.docker.network.bridge.enable_icc': 'true',
        'com.docker.network.driver.mtu': String(mtu),
      },
      Labels: { [NETWORK_LABEL]: subnet },
    },
    nat: [['-s', subnet, '!', '-d', nonMasq, '-m', 'addrtype', '!', '--dst-type', 'LOCAL', '-m', 'comment', '--comment', 'dockerlet: masquerade pod traffic leaving the cluster', '-j', 'MASQUERADE']],
    // Routed traffic from other nodes to our pods (and back) must pass a FORWARD policy of DROP.
    filter: [
      ['-s', nonMasq, '-d', subnet, '-m', 'comment', '--comment', 'dockerlet: cluster to pods', '-j', 'ACCEPT'],
      ['-s', subnet, '-d', nonMasq, '-m', 'comment', '--comment', 'dockerlet: pods to cluster', '-j', 'ACCEPT'],
    ],
  };
}

/** Whether an existing Docker network matches the plan (same driver and subnet): then it is adopted. */
export function networkMatches(plan: PodNetworkPlan, existing: { Driver?: string; IPAM?: { Config?: { Subnet?: string }[] } }): boolean {
  const subnets = (existing.IPAM?.Config ?? []).map((c) => (c.Subnet ? parseCidr4(c.Subnet) : undefined));
  return existing.Driver === 'bridge' && subnets.length === 1 && subnets[0] === plan.subnet;
}

export interface Route {
  dst: string;
  via: string;
}

export interface RoutePlan {
  /** Routes to add or correct (`ip route replace`). */
  replace: Route[];
  /** Routes of ours to remove (`ip route del`). */
  remove: Route[];
  /** The full desired set (for the condition and logs). */
  desired: Route[];
}

/**
 * One route per other node's podCIDR via its InternalIP. Skips this node, nodes without a CIDR or an
 * address, CIDRs that overlap our own, and a gateway inside a pod CIDR. `current` are the routes we own now.
 */
export function planRoutes(selfName: string, nodes: readonly Node[], current: readonly Route[]): RoutePlan {
  const self = nodes.find((n) => n.metadata.name === selfName);
  const own = nodePodCIDR(self);
  const byDst = new Map<string, Route>();
  for (const n of [...nodes].sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)))) {
    if (n.metadata.name === selfName || n.metadata.deletionTimestamp) continue;
    const dst = nodePodCIDR(n);
    const via = nodeInternalIP(n);
    if (!dst || !via || dst === own || byDst.has(dst)) continue;
    if (own && (cidrContains(own, dst.split('/')[0] ?? '') || cidrContains(dst, own.split('/')[0] ?? ''))) continue;
    if (cidrContains(dst, via)) continue;
    byDst.set(dst, { dst, via });
  }
  const desired = [...byDst.values()];
  const have = new Map(current.map((r) => [r.dst, r]));
  return {
    desired,
    replace: desired.filter((r) => have.get(r.dst)?.via !== r.via),
    remove: current.filter((r) => byDst.get(r.dst) === undefined),
  };
}

/** Parses `ip -4 -j route show proto N` output into routes. */
export function parseRoutes(json: string): Route[] {
  const rows = JSON.parse(json.trim() || '[]') as { dst?: string; gateway?: string }[];
  const out: Route[] = [];
  for (const r of rows) {
    const dst = r.dst ? parseCidr4(r.dst) : undefined;
    if (dst && r.gateway) out.push({ dst, via: r.gateway });
  }
  return out;
}

/** The default-route interface from /proc/net/route text (per network namespace), if any. */
export function defaultRouteInterface(procNetRoute: string): string | undefined {
  for (const row of procNetRoute.trim().split('\n').slice(1)) {
    const [name, dest, , flags, , , , mask] = row.trim().split(/\s+/);
    if (dest === '00000000' && mask === '00000000' && (Number.parseInt(flags ?? '0', 16) & 1) === 1) return name;
  }
  return undefined;
}
