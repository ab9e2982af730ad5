// The proxy's own view of Services: one desired entry per service port, with its endpoints.

export type Protocol = 'TCP' | 'UDP';

export interface EndpointInfo {
  ip: string;
  port: number;
  /** conditions.ready (nil ⇒ true). */
  ready: boolean;
  /** conditions.serving (nil ⇒ ready). */
  serving: boolean;
  /** conditions.terminating (nil ⇒ false). */
  terminating: boolean;
  nodeName?: string;
  /** hints.forZones[].name (absent: none). */
  zoneHints?: string[];
  /** hints.forNodes[].name (absent: none). */
  nodeHints?: string[];
}

export interface ServicePortEntry {
  /** `ns/svc:portName` (portName may be empty: `ns/svc:`). */
  key: string;
  namespace: string;
  service: string;
  portName: string;
  protocol: Protocol;
  /** IPv4 cluster IPs (spec.clusterIPs, else spec.clusterIP). */
  clusterIPs: string[];
  /** spec.externalIPs and a LoadBalancer's status ingress IPs (IPv4). */
  externalIPs: string[];
  port: number;
  /** 0 when none. */
  nodePort: number;
  sessionAffinity: 'None' | 'ClientIP';
  /** ClientIP affinity timeout; default 10800. */
  affinityTimeoutSeconds: number;
  /** Endpoint selection of this entry's listener: internalTrafficPolicy, or Local for an external entry. */
  internalTrafficPolicy: 'Cluster' | 'Local';
  /**
   * Set on an external entry: under externalTrafficPolicy Local a service port's NodePort and
   * externalIPs get a listener of their own that only uses this node's endpoints (key
   * `<cluster key>/external`). This is the key of the cluster entry, whose listener the node's own
   * traffic to those portals goes to (upstream sends locally originated traffic cluster-wide).
   */
  clusterKey?: string;
  /**
   * A LoadBalancer's source ranges (spec.loadBalancerSourceRanges, else the legacy annotation), as
   * canonical IPv4 CIDRs: only these sources may use the ingress IPs in `firewalledIPs`; the rest are
   * dropped, as upstream's KUBE-FW chains do. Absent or empty: no firewall.
   */
  sourceRanges?: string[];
  /** The externalIPs that are load balancer ingress IPs: what sourceRanges applies to. */
  firewalledIPs?: string[];
  /** An external entry's spec.healthCheckNodePort (absent: none). */
  healthCheckNodePort?: number;
  /** Sorted by ip, then port; deduplicated by ip:port. */
  endpoints: EndpointInfo[];
}

/** One chosen backend: an endpoint as the data path sees it. */
export interface Target {
  readonly ip: string;
  readonly port: number;
  /** `ip:port` */
  readonly key: string;
}

export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;
/** kube-proxy userspace EndpointDialTimeouts. */
export const DIAL_TIMEOUTS_MS: readonly number[] = [250, 500, 1000, 2000];
/** kube-proxy's --udp-timeout default (UDPIdleTimeout). */
export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 250;

/** What a TCP listener needs from an open connection of either data path (idle sweep, endpoint removal). */
export interface TrackedConn {
  readonly target: Target | null;
  /** Idle sweep state: activity seen at the last sweep and sweeps without any since. */
  idleMark: number;
  idleSweeps: number;
  /** Bytes moved in either direction so far. */
  activity(): number;
  isConnected(): boolean;
  /** Reset both sides. */
  abort(reason: 'idle' | 'endpoint-removed'): void;
}
