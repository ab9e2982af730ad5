// Entry point for `dockerlet proxy` (and the combined daemon): validate config, raise the fd limit,
// build the Service/EndpointSlice informers through the caller's factory, start the Proxier.
import type { EndpointSlice, KubeObject, Node, Service } from '../kube/api.js';
import type { Informer, InformerOptions } from '../kube/types.js';
import type { Clock } from '../lib/clock.js';
import { partLogger, type Logger } from '../lib/log.js';
import { parseProxyConfig, type ProxyConfigInput } from './config.js';
import { raiseFdLimit } from './host.js';
import { PROXY_LABEL_SELECTOR } from './model.js';
import { nativeRelayThreads, resolveDataPath } from './native/engine.js';
import { Proxier, type ProxyEvents } from './proxier.js';
import { configzView } from './status-server.js';

export interface ProxyRunDeps {
  /** Creates a list+watch informer (kube/ implementation). */
  informerFactory: <T extends KubeObject>(opts: InformerOptions) => Informer<T>;
  log?: Logger;
  clock?: Clock;
  /** Already-running shared informers may be passed instead of being created here. */
  services?: Informer<Service>;
  slices?: Informer<EndpointSlice>;
  /** Where the proxy's Warning Events about this node go (absent: logged only). */
  events?: ProxyEvents;
}

export const SERVICES_PATH = '/api/v1/services';
export const ENDPOINTSLICES_PATH = '/apis/discovery.k8s.io/v1/endpointslices';
export const NODES_PATH = '/api/v1/nodes';

/**
 * Starts the userspace kube-proxy and resolves with the running Proxier once its informers have
 * synced and its health/metrics servers listen. Stop it with `proxier.stop()` or by aborting signal.
 */
export async function runProxy(config: ProxyConfigInput, deps: ProxyRunDeps, signal: AbortSignal): Promise<Proxier> {
  const cfg = parseProxyConfig(config);
  const log = partLogger(deps.log, 'proxy');
  if (cfg.raiseFdLimit) await raiseFdLimit(log);
  const { mode: dataPath, why } = resolveDataPath(cfg.dataPath, cfg.relayThreads);
  if (why) log.warn({ dataPath, reason: why }, `proxy TCP data path '${dataPath}' (the fallback)`);
  const shared = deps.services !== undefined && deps.slices !== undefined;
  const services = deps.services ?? deps.informerFactory<Service>({ path: SERVICES_PATH, labelSelector: PROXY_LABEL_SELECTOR });
  const slices = deps.slices ?? deps.informerFactory<EndpointSlice>({ path: ENDPOINTSLICES_PATH, labelSelector: PROXY_LABEL_SELECTOR });
  // Only when the informers are ours: started with them (its zone label drives topology hints).
  const nodes = shared ? undefined : deps.informerFactory<Node>({ path: NODES_PATH, fieldSelector: `metadata.name=${cfg.nodeName}` });
  const proxier = new Proxier({
    services, slices, nodes, nodeName: cfg.nodeName, log, clock: deps.clock,
    iptables: cfg.iptables, chainPrefix: cfg.chainPrefix, bindAddress: cfg.bindAddress,
    healthzPort: cfg.healthzPort, healthzBindAddress: cfg.healthzBindAddress, metricsPort: cfg.metricsPort, metricsBindAddress: cfg.metricsBindAddress,
    syncPeriodMs: cfg.syncPeriodMs, minSyncPeriodMs: cfg.minSyncPeriodMs, udpIdleTimeoutMs: cfg.udpIdleTimeoutMs,
    tcpIdleTimeoutMs: cfg.tcpIdleTimeoutMs, closeRemovedEndpointConnections: cfg.closeRemovedEndpointConnections,
    maxConnectionsPerListener: cfg.maxConnectionsPerListener, dataPath,
    podBridgeInterface: cfg.podBridgeInterface, ownInformers: !shared, events: deps.events, configz: () => configzView(cfg),
  });
  await proxier.start(signal);
  log.info({ node: cfg.nodeName, ...proxier.serverPorts(), iptables: cfg.iptables, dataPath, relayThreads: nativeRelayThreads() }, 'proxy started');
  return proxier;
}

