// What the proxier is built from: its informers, node identity and the knobs of kube-proxy's
// userspace mode (sync periods, idle timeouts, bind address, health/metrics ports), as
// KubeProxyConfiguration carries them upstream (pkg/proxy/apis/config/types.go).
import type { EndpointSlice, Node, Service } from '../kube/api.js';
import type { EventSink } from '../kube/events.js';
import type { Informer } from '../kube/types.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/log.js';
import type { DataPathMode } from './conn.js';
import type { IptablesRunner } from './iptables.js';

/** Where the proxier sends its Warning Events: the one event-sink interface (kube/events.ts). */
export type ProxyEvents = EventSink;

export interface ProxierDeps {
  services: Informer<Service>;
  slices: Informer<EndpointSlice>;
  /** This node's Node object (field selector metadata.name): its zone label drives topology hints. */
  nodes?: Informer<Node>;
  nodeName: string;
  clock?: Clock;
  log?: Logger;
  /** Program iptables portals (default true). */
  iptables?: boolean;
  /** Listener bind address (default 0.0.0.0: container traffic is REDIRECTed). */
  bindAddress?: string;
  /** Health server port (default 10256; 0 = a free port; -1 = off). */
  healthzPort?: number;
  healthzBindAddress?: string;
  /** Metrics server port (default 10249; 0 = a free port; -1 = off). */
  metricsPort?: number;
  metricsBindAddress?: string;
  syncPeriodMs?: number;
  minSyncPeriodMs?: number;
  udpIdleTimeoutMs?: number;
  tcpIdleTimeoutMs?: number;
  maxConnectionsPerListener?: number;
  /** Reset established connections of an endpoint that leaves its slice (default false, as upstream). */
  closeRemovedEndpointConnections?: boolean;
  dataPath?: DataPathMode;
  chainPrefix?: string;
  /** The bridge of this node's pods ('' or absent: no local traffic detection); see PortalOptions. */
  podBridgeInterface?: string;
  iptablesRunner?: IptablesRunner;
  /** Start/stop the informers here (default true); false when the caller shares them. */
  ownInformers?: boolean;
  /**
   * Hold every NodePort and local externalIP port with a socket of our own (default: with iptables),
   * as the userspace proxier's claimNodePort.
   */
  claimPorts?: boolean;
  /** Warning Events (a port that cannot be claimed on the Node, a health check server that cannot start on its Service). */
  events?: ProxyEvents;
  /** The effective configuration /configz on the metrics port serves. */
  configz?: () => unknown;
}
