// Prometheus metrics of the proxy on its own Registry: kube-proxy's sync metrics plus per
// service port connection, byte and error counts (read from the listeners' plain counters at scrape).
import { Counter, Gauge, Histogram, Registry, exponentialBuckets } from 'prom-client';
import type { ProxyHealth } from './health.js';
import type { ListenerStats } from './stats.js';

/** Upstream's buckets: 0.25 s steps to 0.5 s, 1 s steps to 59 s, 5 s steps to 115 s, 30 s steps to 5 min. */
const linear = (start: number, width: number, count: number) => Array.from({ length: count }, (_, i) => start + i * width);
export const NETWORK_PROGRAMMING_BUCKETS = [...linear(0.25, 0.25, 2), ...linear(1, 1, 59), ...linear(60, 5, 12), ...linear(120, 30, 7)];

/** How long one snapshot of the listeners' counters serves the collectors of a scrape. */
const SNAPSHOT_MS = 250;

export interface ListenerView {
  key: string;
  protocol: string;
  stats: ListenerStats;
}

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly syncDuration: Histogram;
  readonly lastSync: Gauge;
  readonly lastQueued: Gauge;
  readonly endpointChangesPending: Gauge;
  readonly endpointChangesTotal: Counter;
  readonly serviceChangesPending: Gauge;
  readonly serviceChangesTotal: Counter;
  readonly restoreFailures: Counter;
  readonly networkProgramming: Histogram;
  readonly noLocalEndpoints: Gauge;

  constructor(listeners: () => Iterable<ListenerView>, health?: ProxyHealth) {
    const registers = [this.registry];
    // One read of each listener's counters per scrape (the native relay's are read under its lock),
    // shared by the per-port collectors that run one after another in that scrape.
    let snap: { at: number; views: ListenerView[] } | undefined;
    const views = (): ListenerView[] => {
      const now = Date.now();
      if (!snap || now - snap.at > SNAPSHOT_MS) {
        snap = { at: now, views: [...listeners()].map((v) => ({ key: v.key, protocol: v.protocol, stats: { ...v.stats } })) };
      }
      return snap.views;
    };
    this.syncDuration = new Histogram({ name: 'kubeproxy_sync_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds', buckets: exponentialBuckets(0.001, 2, 15), registers });
    this.lastSync = new Gauge({ name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', help: 'The last time proxy rules were successfully synced', registers });
    this.lastQueued = new Gauge({ name: 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', help: 'The last time a sync of proxy rules was queued', registers });
    this.endpointChangesPending = new Gauge({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending', help: 'Pending proxy rules Endpoint changes', registers });
    this.endpointChangesTotal = new Counter({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total', help: 'Cumulative proxy rules Endpoint changes', registers });
    this.serviceChangesPending = new Gauge({ name: 'kubeproxy_sync_proxy_rules_service_changes_pending', help: 'Pending proxy rules Service changes', registers });
    this.serviceChangesTotal = new Counter({ name: 'kubeproxy_sync_proxy_rules_service_changes_total', help: 'Cumulative proxy rules Service changes', registers });
    this.restoreFailures = new Counter({ name: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total', help: 'Cumulative proxy iptables restore failures', registers });
    this.networkProgramming = new Histogram({ name: 'kubeproxy_network_programming_duration_seconds', help: 'In Cluster Network Programming Latency in seconds', buckets: NETWORK_PROGRAMMING_BUCKETS, registers });
    this.noLocalEndpoints = new Gauge({ name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total', help: 'Number of services with a Local traffic policy and no endpoints', labelNames: ['traffic_policy'], registers });

    const perPort = (name: string, help: string, type: 'counter' | 'gauge', labelNames: string[], read: (v: ListenerView, set: (labels: Record<string, string>, n: number) => void) => void) => {
      const Ctor = type === 'counter' ? Counter : Gauge;
      new Ctor({
        name, help, labelNames: ['service_port', 'protocol', ...labelNames], registers,
        collect(this: Counter | Gauge) {
          this.reset();
          for (const v of views()) {
            read(v, (labels, n) => {
              const l = { service_port: v.key, protocol: v.protocol, ...labels };
              if (this instanceof Gauge) this.set(l, n);
              else this.inc(l, n);
            });
          }
        },
      });
    };
    perPort('dockerlet_proxy_connections_total', 'Connections (TCP) or sessions (UDP) proxied to an endpoint', 'counter', [], (v, set) => set({}, v.stats.connectionsTotal));
    perPort('dockerlet_proxy_connections_active', 'Open proxied connections or sessions', 'gauge', [], (v, set) => set({}, v.stats.active));
    perPort('dockerlet_proxy_bytes_total', 'Bytes proxied (in: client to endpoint, out: endpoint to client; TCP counted at close)', 'counter', ['direction'], (v, set) => {
      set({ direction: 'in' }, v.stats.bytesIn);
      set({ direction: 'out' }, v.stats.bytesOut);
    });
    perPort('dockerlet_proxy_errors_total', 'Proxy errors by kind', 'counter', ['kind'], (v, set) => {
      set({ kind: 'connect_failure' }, v.stats.connectFailures);
      set({ kind: 'reject' }, v.stats.rejects);
      set({ kind: 'drop' }, v.stats.drops);
      set({ kind: 'listener' }, v.stats.listenerErrors);
    });
    perPort('dockerlet_proxy_closed_total', 'Connections closed by the proxy', 'counter', ['reason'], (v, set) => {
      set({ reason: 'endpoint_removed' }, v.stats.endpointRemovalCloses);
      set({ reason: 'idle' }, v.stats.idleTimeouts);
    });
    if (health) {
      for (const path of ['healthz', 'livez'] as const) {
        new Counter({
          name: `kubeproxy_proxy_${path}_total`, help: `Cumulative proxy ${path} HTTP status`, labelNames: ['code'], registers,
          collect(this: Counter) {
            this.reset();
            for (const [k, n] of health.served) {
              const [p, code] = k.split(':');
              if (p === path) this.inc({ code: code! }, n);
            }
          },
        });
      }
    }
  }

  /**
   * A sync programmed endpoint changes: each change's trigger time (the EndpointSlice's
   * endpoints.kubernetes.io/last-change-trigger-time) to now, as upstream observes after a sync.
   */
  observeProgramming(triggerTimesMs: readonly number[], nowMs: number): void {
    for (const t of triggerTimesMs) this.networkProgramming.observe(Math.max(0, nowMs - t) / 1000);
  }

  /** Services whose Local traffic policy leaves them without endpoints here although they have some elsewhere. */
  setNoLocalEndpoints(internal: number, external: number): void {
    this.noLocalEndpoints.set({ traffic_policy: 'internal' }, internal);
    this.noLocalEndpoints.set({ traffic_policy: 'external' }, external);
  }

  /** A sync finished (durationMs) at time nowMs. */
  observeSync(durationMs: number, nowMs: number): void {
    this.syncDuration.observe(durationMs / 1000);
    this.lastSync.set(nowMs / 1000);
  }
}


