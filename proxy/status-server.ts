// kube-proxy's metrics server (cmd/kube-proxy/app/server.go serveMetrics, ProxyStatusPort 10249):
// /metrics, /healthz (the generic "ok" ping of k8s.io/apiserver's healthz.InstallHandler), /proxyMode
// (the mode as plain text) and /configz (the effective configuration under the group name
// kubeproxy.config.k8s.io, as k8s.io/component-base/configz serves it).
import type { Logger } from '../lib/log.js';
import type { ProxyConfig } from './config.js';
import { SmallHttpServer } from './health.js';
import type { ProxyMetrics } from './metrics.js';

/** What /proxyMode answers: upstream's name for a proxy that accepts connections in user space. */
export const PROXY_MODE = 'userspace';
export const CONFIGZ_GROUP = 'kubeproxy.config.k8s.io';

export interface StatusServerOptions {
  host: string;
  port: number;
  log?: Logger;
  /** The effective configuration for /configz (kube-proxy's field names where it has them). */
  configz?: () => unknown;
}

export function statusServer(metrics: ProxyMetrics, opts: StatusServerOptions): SmallHttpServer {
  return new SmallHttpServer('metrics', opts, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const text = (code: number, body: string) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' });
      res.end(body);
    };
    switch (path) {
      case '/metrics':
        metrics.registry.metrics().then(
          (out) => { res.writeHead(200, { 'content-type': metrics.registry.contentType }); res.end(out); },
          (err: unknown) => text(500, `${String(err)}\n`),
        );
        return;
      case '/healthz':
        return text(200, 'ok');
      case '/proxyMode':
        return text(200, PROXY_MODE);
      case '/configz':
        res.writeHead(200, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
        res.end(JSON.stringify({ [CONFIGZ_GROUP]: opts.configz?.() ?? {} }));
        return;
      default:
        return text(404, '404 page not found\n');
    }
  });
}

/** The effective configuration in KubeProxyConfiguration's field names where it has one (durations as Go prints them). */
export function configzView(cfg: ProxyConfig): Record<string, unknown> {
  const dur = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);
  return {
    bindAddress: cfg.bindAddress,
    healthzBindAddress: cfg.healthzPort < 0 ? '' : `${cfg.healthzBindAddress}:${cfg.healthzPort}`,
    metricsBindAddress: cfg.metricsPort < 0 ? '' : `${cfg.metricsBindAddress}:${cfg.metricsPort}`,
    hostnameOverride: cfg.nodeName,
    mode: PROXY_MODE,
    detectLocalMode: cfg.podBridgeInterface ? 'BridgeInterface' : '',
    detectLocal: { bridgeInterface: cfg.podBridgeInterface },
    iptables: { syncPeriod: dur(cfg.syncPeriodMs), minSyncPeriod: dur(cfg.minSyncPeriodMs) },
    syncPeriod: dur(cfg.syncPeriodMs),
    minSyncPeriod: dur(cfg.minSyncPeriodMs),
    udpIdleTimeout: dur(cfg.udpIdleTimeoutMs),
    portRange: '',
    dockerlet: {
      iptables: cfg.iptables, chainPrefix: cfg.chainPrefix, dataPath: cfg.dataPath, tcpIdleTimeout: dur(cfg.tcpIdleTimeoutMs),
      maxConnectionsPerListener: cfg.maxConnectionsPerListener,
      relayThreads: cfg.relayThreads,
    },
  };
}
