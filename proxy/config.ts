// The proxy's configuration, validated once at the edge (defaults follow kube-proxy where it has one).
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import { MAX_PREFIX_LENGTH } from './portals.js';

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
  tcpIdleTimeoutMs: z.number().int().min(0).default(3_600_000),
  maxConnectionsPerListener: z.number().int().positive().default(65_536),
  /**
   * 'native' (the relay in proxy/native/, where scripts/build-native.sh built it; else 'raw'), 'raw'
   * (libuv handles; falls back to 'pump' where Node lacks them) or the net.Socket paths.
   */
  dataPath: z.enum(['native', 'raw', 'pump', 'pipe', 'onread']).default('native'),
  /** Extra processes accepting on every non-sticky TCP listener (0 = the proxy's own thread only). */
  shards: z.number().int().min(0).max(64).default(0),
  raiseFdLimit: z.boolean().default(true),
  /**
   * The bridge this node's pods are on (kube-proxy --pod-bridge-interface, detect-local-mode
   * BridgeInterface); '' = no local traffic detection. Their traffic to the external addresses of an
   * externalTrafficPolicy Local service goes to the cluster-wide listener, as upstream's short-circuit.
   */
  podBridgeInterface: InterfaceName.default('docker0'),
});

/**
 * The 'auto' shard count: none below 4 cores, else min(cpus - 2, 3). On 2 cores shared with the
 * clients and servers a shard cost more than it brought (bench/proxy: the accept herd and a second
 * heap compete for the same CPU share); with spare cores each shard adds an accepting event loop.
 */
export function autoShards(cpus = availableParallelism()): number {
  return cpus < 4 ? 0 : Math.min(cpus - 2, 3);
}

/**
 * The proxy's section of dockerlet's config file (`proxy:`): the proxier's settings without the node
 * name (the agent's), plus whether `dockerlet agent` runs it too and the 'auto' shard count.
 */
export const ProxySectionSchema = ProxyConfigSchema.omit({ nodeName: true, shards: true }).extend({
  enabled: z.boolean().default(false),
  /** Shard processes that also accept on each non-ClientIP TCP listener; 'auto' = 0 below 4 cores, else min(cpus - 2, 3). */
  shards: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto'),
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
