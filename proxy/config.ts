// The proxy's configuration, validated once at the edge (defaults follow kube-proxy where it has one).
import { z } from 'zod';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import { MAX_PREFIX_LENGTH } from './portals.js';
import { defaultRelayThreads, MAX_RELAY_THREADS } from './native/engine.js';

const port = z.number().int().min(-1).max(65535);
/** A network interface name (IFNAMSIZ - 1), or '' for none. */
export const InterfaceName = z.string().regex(/^[A-Za-z0-9_.-]{0,15}$/, 'an interface name (at most 15 of [A-Za-z0-9_.-])');

export const ProxyConfigSchema = z.object({
  nodeName: z.string().min(1),
  /** Listener bind address; 0.0.0.0 ⇒ container portals use REDIRECT. */
  bindAddress: z.string().default('0.0.0.0'),
  healthzBindAddress: z.string().default('0.0.0.0'),
  /** kube-proxy ProxyHealthzPort; -1 = off. */
  healthzPort: port.default(10256),
  metricsBindAddress: z.string().default('127.0.0.1'),
  /** kube-proxy ProxyStatusPort; -1 = off. */
  metricsPort: port.default(10249),
  iptables: z.boolean().default(true),
  chainPrefix: z.string().regex(/^[A-Z][A-Z0-9-]*$/).max(MAX_PREFIX_LENGTH).default('DOCKERLET'),
  syncPeriodMs: z.number().int().positive().default(30_000),
  minSyncPeriodMs: z.number().int().min(0).default(1_000),
  udpIdleTimeoutMs: z.number().int().positive().default(250),
  /** Reset TCP connections idle this long (0, the default: never; upstream has no idle reset). */
  tcpIdleTimeoutMs: z.number().int().min(0).default(0),
  /**
   * Reset the established connections of an endpoint that leaves its EndpointSlice (default false:
   * they run until either side closes, as upstream's userspace proxier did; UDP sessions alike).
   */
  closeRemovedEndpointConnections: z.boolean().default(false),
  maxConnectionsPerListener: z.number().int().positive().default(65_536),
  /**
   * 'native': the C relay in proxy/native/ (built by scripts/build-native.sh); where it does not load
   * or its engine does not start, the proxy falls back to 'pump' (net.Socket) and says why.
   */
  dataPath: z.enum(['native', 'pump']).default('native'),
  /**
   * The native relay's threads (each with its own epoll set and its own socket in every listener's
   * SO_REUSEPORT group; a ClientIP-affinity listener's new clients go to one). Default: one per core,
   * at most 4; 1 is a single relay thread. Process-wide: the first proxy in a process sets it.
   */
  relayThreads: z.number().int().min(1).max(MAX_RELAY_THREADS).default(defaultRelayThreads),
  raiseFdLimit: z.boolean().default(true),
  /**
   * The bridge this node's pods are on (kube-proxy --pod-bridge-interface, detect-local-mode
   * BridgeInterface); '' = no local traffic detection. Their traffic to the external addresses of an
   * externalTrafficPolicy Local service goes to the cluster-wide listener, as upstream's short-circuit.
   */
  podBridgeInterface: InterfaceName.default('docker0'),
});

/**
 * The proxy's section of dockerlet's config file (`proxy:`): the proxier's settings without the node
 * name (the agent's), plus whether `dockerlet agent` runs it too.
 */
export const ProxySectionSchema = ProxyConfigSchema.omit({ nodeName: true }).extend({
  enabled: z.boolean().default(false),
}).strict();

export type ProxySection = z.infer<typeof ProxySectionSchema>;

export type ProxyConfig = z.infer<typeof ProxyConfigSchema>;
export type ProxyConfigInput = z.input<typeof ProxyConfigSchema>;

export function parseProxyConfig(input: unknown): ProxyConfig {
  const r = ProxyConfigSchema.safeParse(input);
  if (!r.success) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `invalid proxy config: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  // Upstream's ErrProxyOnLocalhost: redirected container traffic cannot reach a loopback listener
  // (not without route_localnet, the CVE-2020-8558 exposure).
  if (r.data.iptables && r.data.bindAddress.startsWith('127.')) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `invalid proxy config: bindAddress: ${r.data.bindAddress} is a loopback address; the proxy cannot listen on localhost when it programs iptables portals`);
  }
  return Object.freeze(r.data);
}
