// The Kubernetes API types the proxy reads: core/v1 Service and discovery.k8s.io/v1 EndpointSlice
// (only the fields dockerlet uses).
import type { KubeObject, ObjectReference } from './api.js';

export interface ServicePort {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

export interface Service extends KubeObject {
  spec: {
    type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
    clusterIP?: string;
    clusterIPs?: string[];
    externalIPs?: string[];
    loadBalancerSourceRanges?: string[];
    ports?: ServicePort[];
    selector?: Record<string, string>;
    sessionAffinity?: 'None' | 'ClientIP';
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    internalTrafficPolicy?: 'Cluster' | 'Local';
    externalTrafficPolicy?: 'Cluster' | 'Local';
    healthCheckNodePort?: number;
  };
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  /** VIP (default): the proxy handles traffic to ip; Proxy: the load balancer delivers to the node, not to ip. */
  ipMode?: 'VIP' | 'Proxy';
}

export interface EndpointSlice extends KubeObject {
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: {
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
    nodeName?: string;
    targetRef?: ObjectReference;
    zone?: string;
    /** Topology aware routing: the zones (and, for trafficDistribution PreferSameNode, nodes) this endpoint should serve. */
    hints?: { forZones?: { name: string }[]; forNodes?: { name: string }[] };
  }[];
  ports?: { name?: string; port?: number; protocol?: 'TCP' | 'UDP' | 'SCTP'; appProtocol?: string }[] | null;
}
