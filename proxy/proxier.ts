// The proxier: informer events only mark dirty and schedule a coalesced sync (min interval, plus a
// periodic resync); a sync joins Services + EndpointSlices into the desired table, diffs it against
// the running listeners (open/close listeners, update endpoints in place) and applies the portals.
import type { EndpointSlice, Service } from '../kube/api.js';
import { systemClock, type Clock, type Timer } from '../lib/clock.js';
import { partLogger, type Logger } from '../lib/log.js';
import type { Lifecycle } from '../lib/lifecycle.js';
import { Balancer, noLocalEndpoints, type BalancerConfig } from './balancer.js';
import { balancerConfigChanged, diffTables, endpointsChanged } from './diff.js';
import { planEndpointUpdate, SliceIndex } from './endpoint-updates.js';
import { healthServer, ProxyHealth, type SmallHttpServer } from './health.js';
import { cachedRouteSource } from './host.js';
import { Portals } from './iptables.js';
import { ProxyMetrics, type ListenerView } from './metrics.js';
import { buildServicePorts } from './model.js';

/** Listeners opened at once by a sync. */
const OPEN_CONCURRENCY = 64;
/** The EndpointSlice controller's stamp of the change a slice reflects (v1.EndpointsLastChangeTriggerTime). */
const LAST_CHANGE_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
import { localIPv4s, portalSpecs } from './portal-specs.js';
import { statusServer } from './status-server.js';
import { resolveDataPath } from './native/engine.js';
import { NodeTopology } from './node-topology.js';
import { PortClaims, wantedClaims } from './port-claims.js';
import { ServiceHealthServers, serviceHealthTargets } from './service-health.js';
import { TcpListener } from './tcp.js';
import type { ServicePortEntry } from './types.js';
import { UdpListener } from './udp.js';

import type { ProxierDeps } from './proxier-deps.js';

export type { ProxierDeps, ProxyEvents } from './proxier-deps.js';

type Listener = TcpListener | UdpListener;
interface Running { entry: ServicePortEntry; listener: Listener }

export class Proxier implements Lifecycle {
  readonly #d: ProxierDeps;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly health: ProxyHealth;
  readonly metrics: ProxyMetrics;
  readonly #portals: Portals | null;
  #running = new Map<string, Running>();
  #healthSrv: SmallHttpServer | null = null;
  readonly #serviceHealth: ServiceHealthServers;
  readonly #routeSource: (ip: string) => Promise<string | undefined>;
  #metricsSrv: SmallHttpServer | null = null;
  #stopping: Promise<void> | null = null;
  #unsubscribe: (() => void)[] = [];
  #timer: Timer | null = null;
  #timerAt = 0;
  #lastSyncStart = 0;
  #syncing: Promise<void> | null = null;
  #again = false;
  #stopped = true;
  #pendingServices = new Set<string>();
  #pendingEndpoints = new Set<string>();
  /** last-change-trigger-time of the EndpointSlice changes not yet programmed (network programming latency). */
  #triggerTimes: number[] = [];
  readonly #topology: NodeTopology;
  readonly #claims: PortClaims | null;
  /** Slices by Service, rebuilt at each sync and kept from events in between (endpoint changes in place). */
  readonly #slices = new SliceIndex();
  #slicesIndexed = false;
  /** Service ports given newer endpoints in place while a sync was running: that sync leaves them alone. */
  #appliedDuringSync = new Set<string>();

  constructor(deps: ProxierDeps) {
    this.#topology = new NodeTopology(deps.nodeName);
    this.#d = { ...deps, dataPath: resolveDataPath(deps.dataPath).mode };
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'proxier');
    this.health = new ProxyHealth({ healthTimeoutMs: 2 * this.#syncPeriod(), clock: this.#clock });
    this.metrics = new ProxyMetrics(() => this.#views(), this.health);
    this.#serviceHealth = new ServiceHealthServers({ proxyHealthy: () => this.health.isHealthy(), log: this.#log });
    this.#claims = (deps.claimPorts ?? deps.iptables !== false) ? new PortClaims({ log: this.#log }) : null;
    this.#routeSource = cachedRouteSource(this.#syncPeriod(), () => this.#clock.now());
    this.#portals = deps.iptables === false ? null : new Portals(
      {
        prefix: deps.chainPrefix ?? 'DOCKERLET',
        ...(deps.bindAddress && deps.bindAddress !== '0.0.0.0' ? { containerDnatIP: deps.bindAddress } : {}),
        ...(deps.podBridgeInterface ? { podBridgeInterface: deps.podBridgeInterface } : {}),
      },
      { runner: deps.iptablesRunner, log: this.#log },
    );
  }

  #syncPeriod(): number { return this.#d.syncPeriodMs ?? 30_000; }
  #minSync(): number { return this.#d.minSyncPeriodMs ?? 1_000; }

  *#views(): Iterable<ListenerView> {
    for (const r of this.#running.values()) yield { key: r.entry.key, protocol: r.entry.protocol, stats: r.listener.stats };
  }

  #started = false;

  async start(signal: AbortSignal): Promise<void> {
    this.#stopped = false;
    this.#started = true;
    this.health.queuedUpdate();
    const d = this.#d;
    if (d.healthzPort !== -1) {
      this.#healthSrv = healthServer(this.health, { host: d.healthzBindAddress ?? '0.0.0.0', port: d.healthzPort ?? 10256, log: this.#log, nodeEligible: () => this.#topology.eligible });
      await this.#healthSrv.start();
    }
    if (d.metricsPort !== -1) {
      this.#metricsSrv = statusServer(this.metrics, { host: d.metricsBindAddress ?? '127.0.0.1', port: d.metricsPort ?? 10249, log: this.#log, configz: d.configz });
      await this.#metricsSrv.start();
    }
    if (this.#portals) await this.#portals.prepareHost();
    this.#unsubscribe.push(d.services.on({
      add: (s) => this.#serviceChanged(s),
      update: (_o, s) => this.#serviceChanged(s),
      delete: (s) => this.#serviceChanged(s),
    }));
    this.#unsubscribe.push(d.slices.on({
      add: (s) => this.#sliceChanged(s),
      update: (_o, s) => this.#sliceChanged(s),
      delete: (s) => this.#sliceChanged(s, true),
    }));
    // A new zone re-applies every listener's selection (topology hints), then the sync follows.
    if (d.nodes) this.#unsubscribe.push(this.#topology.follow(d.nodes, () => this.#zoneChanged()));
    if (d.ownInformers !== false) await Promise.all([d.services.start(signal), d.slices.start(signal), d.nodes?.start(signal)]);
    if (d.nodes) this.#topology.read(d.nodes);
    signal.addEventListener('abort', () => { void this.stop(); }, { once: true });
    this.requestSync();
  }

  /** Ports the health/metrics servers are bound to (after start). */
  serverPorts(): { health?: number; metrics?: number } {
    const out: { health?: number; metrics?: number } = {};
    if (this.#healthSrv) out.health = this.#healthSrv.port;
    if (this.#metricsSrv) out.metrics = this.#metricsSrv.port;
    return out;
  }

  #serviceChanged(s: Service): void {
    const key = `${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`;
    this.#pendingServices.add(key);
    this.metrics.serviceChangesTotal.inc();
    this.metrics.serviceChangesPending.set(this.#pendingServices.size);
    this.#queued();
  }

  #sliceChanged(s: EndpointSlice, deleted = false): void {
    const svcKey = SliceIndex.serviceKey(s);
    if (!svcKey) return;
    if (deleted) this.#slices.remove(s);
    else this.#slices.put(s);
    // As upstream's endpointSliceCache: a deleted slice has no trigger time to report.
    const trigger = deleted ? NaN : Date.parse(s.metadata.annotations?.[LAST_CHANGE_TRIGGER_TIME] ?? '');
    this.metrics.endpointChangesTotal.inc();
    if (this.#applyEndpoints(svcKey, trigger)) return;
    if (Number.isFinite(trigger)) this.#triggerTimes.push(trigger);
    this.#pendingEndpoints.add(svcKey);
    this.metrics.endpointChangesPending.set(this.#pendingEndpoints.size);
    this.#queued();
  }

  /**
   * New endpoints straight to the running listeners when nothing else changes (endpoint-updates.ts),
   * as upstream's userspace proxier did; the change is programmed now. False: it waits for a sync.
   */
  #applyEndpoints(svcKey: string, trigger: number): boolean {
    if (!this.#slicesIndexed || this.#stopped) return false;
    const plan = planEndpointUpdate(this.#d.services.get(svcKey), this.#slices.of(svcKey), (k) => this.#running.get(k)?.entry, this.#d.nodeName);
    if (!plan) return false;
    for (const e of plan) {
      const r = this.#running.get(e.key)!;
      const changed = endpointsChanged(r.entry.endpoints, e.endpoints);
      r.entry = e;
      if (changed) r.listener.setEndpoints(e.endpoints);
    }
    // A sync in flight read the tables before this change: it must not write its older entries back.
    if (this.#syncing) for (const e of plan) this.#appliedDuringSync.add(e.key);
    if (Number.isFinite(trigger)) this.metrics.observeProgramming([trigger], Date.now());
    return true;
  }

  #queued(): void {
    this.health.queuedUpdate();
    this.metrics.lastQueued.set(this.#clock.now() / 1000);
    this.requestSync();
  }

  /** Schedules a sync no sooner than minSyncPeriod after the previous one started. */
  requestSync(): void {
    if (this.#stopped) return;
    if (this.#syncing) { this.#again = true; return; }
    const at = Math.max(this.#clock.now(), this.#lastSyncStart + this.#minSync());
    this.#schedule(at);
  }

  #schedule(at: number): void {
    if (this.#timer && this.#timerAt <= at) return;
    this.#timer?.cancel();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.syncNow().catch((err: unknown) => {
        this.#log.error({ err }, 'proxy sync crashed; retrying');
        this.#schedule(this.#clock.now() + this.#minSync());
      });
    }, Math.max(0, at - this.#clock.now()));
  }

  /** Runs one sync now (single-flight); resolves when it is done. */
  syncNow(): Promise<void> {
    if (this.#syncing) { this.#again = true; return this.#syncing; }
    this.#syncing = this.#sync().finally(() => {
      this.#syncing = null;
      if (this.#stopped) return;
      if (this.#again) { this.#again = false; this.requestSync(); }
      else this.#schedule(this.#lastSyncStart + this.#syncPeriod());
    });
    return this.#syncing;
  }

  async #sync(): Promise<void> {
    const d = this.#d;
    if (!d.services.hasSynced() || !d.slices.hasSynced()) {
      // Nothing is programmed from partial data; look again shortly.
      this.#schedule(this.#clock.now() + this.#minSync());
      return;
    }
    const start = this.#clock.now();
    const periodic = start - this.#lastSyncStart >= this.#syncPeriod();
    this.#lastSyncStart = start;
    this.#pendingServices.clear();
    this.#pendingEndpoints.clear();
    this.metrics.serviceChangesPending.set(0);
    this.metrics.endpointChangesPending.set(0);
    const triggers = this.#triggerTimes.splice(0);
    this.#appliedDuringSync.clear();
    const sliceList = d.slices.list();
    this.#slices.reset(sliceList);
    this.#slicesIndexed = true;
    const desired = buildServicePorts(d.services.list(), sliceList);
    let ok = await this.#reconcile(desired);
    // As upstream's SyncServices: a health check port that cannot be bound is reported and tried again
    // at the next sync; it does not hold the rest back (nor turn /healthz 503, nor resync at once).
    const hcTargets = serviceHealthTargets(desired.values(), d.nodeName);
    await this.#serviceHealth.sync(hcTargets);
    for (const [port, why] of this.#serviceHealth.failed()) {
      const t = hcTargets.get(port);
      if (!t) continue;
      const nsn = `${t.namespace}/${t.name}`;
      d.events?.event({ kind: 'Service', namespace: t.namespace, name: t.name, uid: nsn }, 'Warning', 'FailedToStartServiceHealthcheck', `node ${d.nodeName} failed to start healthcheck "${nsn}" on port ${port}: ${why}`);
    }
    const noLocal = noLocalEndpoints(desired.values(), d.nodeName);
    this.metrics.setNoLocalEndpoints(noLocal.internal, noLocal.external);
    if (this.#claims) {
      await this.#claims.sync(wantedClaims(desired.values(), localIPv4s()));
      for (const [port, why] of this.#claims.failed()) this.#nodeWarning('FailedToClaimPort', `node ${d.nodeName} cannot hold ${port} open (service traffic to it is still redirected): ${why}`);
    }
    if (this.#portals) {
      try {
        const wildcard = !this.#portals.options.containerDnatIP;
        await this.#portals.apply(await portalSpecs(this.#running.values(), this.#d.nodeName, wildcard, this.#routeSource, localIPv4s), periodic);
      } catch (err) {
        ok = false;
        this.metrics.restoreFailures.inc();
        this.#log.error({ err }, 'applying portals failed; will retry');
      }
    }
    if (!ok) this.#again = true;
    for (const r of this.#running.values()) r.listener.balancer.cleanupStaleAffinity();
    if (ok) {
      this.health.updated();
      this.metrics.observeSync(this.#clock.now() - start, this.#clock.now());
      this.metrics.observeProgramming(triggers, Date.now());
    } else {
      this.#triggerTimes.unshift(...triggers);
    }
  }

  #nodeWarning(reason: string, message: string): void {
    this.#d.events?.event({ kind: 'Node', name: this.#d.nodeName, uid: this.#d.nodeName }, 'Warning', reason, message);
  }

  /** Ports held open for NodePorts and local externalIPs, as `tcp/0.0.0.0:30080`. */
  claimedPorts(): string[] {
    return this.#claims?.held() ?? [];
  }

  /** Returns false when some listener could not be opened (retried at the next sync). */
  async #reconcile(desired: Map<string, ServicePortEntry>): Promise<boolean> {
    const current = new Map<string, ServicePortEntry>();
    for (const [k, r] of this.#running) current.set(k, r.entry);
    const diff = diffTables(current, desired);
    for (const e of diff.removed) await this.#close(e.key);
    for (const { from } of diff.replaced) await this.#close(from.key);
    // Listeners open concurrently (a few dozen at a time): thousands of new Services do not wait in line.
    const opening = [...diff.added, ...diff.replaced.map((x) => x.to)];
    let ok = true;
    for (let i = 0; i < opening.length; i += OPEN_CONCURRENCY) {
      const res = await Promise.all(opening.slice(i, i + OPEN_CONCURRENCY).map((e) => this.#open(e)));
      ok = res.every(Boolean) && ok;
    }
    for (const { from, to } of diff.updated) {
      const r = this.#running.get(to.key);
      if (!r || this.#appliedDuringSync.has(to.key)) continue;
      r.entry = to;
      if (balancerConfigChanged(from, to)) this.#reselect(r);
      else r.listener.setEndpoints(to.endpoints);
    }
    if (diff.added.length || diff.removed.length || diff.replaced.length || diff.updated.length) {
      this.#log.info({ added: diff.added.length, removed: diff.removed.length, replaced: diff.replaced.length, updated: diff.updated.length }, 'proxy table synced');
    }
    return ok;
  }

  #balancerConfig(e: ServicePortEntry): BalancerConfig {
    return { nodeName: this.#d.nodeName, zone: this.#topology.zone, internalTrafficPolicy: e.internalTrafficPolicy, sessionAffinity: e.sessionAffinity, affinityTimeoutSeconds: e.affinityTimeoutSeconds };
  }

  #zoneChanged(): void {
    for (const r of this.#running.values()) this.#reselect(r);
    this.requestSync();
  }

  /** New selection settings for a running listener (the endpoints go again: the native relay gets its targets from them). */
  #reselect(r: Running): void {
    r.listener.balancer.setConfig(this.#balancerConfig(r.entry));
    r.listener.setEndpoints(r.entry.endpoints);
  }

  async #open(e: ServicePortEntry): Promise<boolean> {
    const d = this.#d;
    const balancer = new Balancer(this.#balancerConfig(e), this.#clock);
    const log = this.#log.child({ servicePort: e.key });
    const listener: Listener = e.protocol === 'TCP'
      ? new TcpListener({
        key: e.key, balancer, bindAddress: d.bindAddress, idleTimeoutMs: d.tcpIdleTimeoutMs, closeRemovedEndpointConnections: d.closeRemovedEndpointConnections,
        maxConnections: d.maxConnectionsPerListener, mode: d.dataPath, log,
      })
      : new UdpListener({ key: e.key, balancer, bindAddress: d.bindAddress, idleTimeoutMs: d.udpIdleTimeoutMs, closeRemovedEndpointSessions: d.closeRemovedEndpointConnections, clock: this.#clock, log });
    listener.setEndpoints(e.endpoints);
    try {
      const port = await listener.start();
      this.#running.set(e.key, { entry: e, listener });
      log.info({ protocol: e.protocol, listenerPort: port, endpoints: e.endpoints.length }, 'opened service port listener');
      return true;
    } catch (err) {
      log.error({ err }, 'could not open a listener; will retry at the next sync');
      return false;
    }
  }

  async #close(key: string): Promise<void> {
    const r = this.#running.get(key);
    if (!r) return;
    this.#running.delete(key);
    await r.listener.stop();
    this.#log.info({ servicePort: key }, 'closed service port listener');
  }

  /** The running table: service port → listener port and usable endpoints (for tests and debugging). */
  table(): { key: string; protocol: string; listenerPort: number; clusterIPs: string[]; port: number; nodePort: number; usable: string[] }[] {
    return [...this.#running.values()].map(({ entry: e, listener }) => ({
      key: e.key, protocol: e.protocol, listenerPort: listener.port, clusterIPs: e.clusterIPs, port: e.port, nodePort: e.nodePort,
      usable: listener.balancer.targets().map((t) => t.key),
    }));
  }

  listener(key: string): Listener | undefined {
    return this.#running.get(key)?.listener;
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#stopped = true;
    if (!this.#started) return;
    this.#timer?.cancel();
    this.#timer = null;
    for (const u of this.#unsubscribe.splice(0)) u();
    await this.#syncing?.catch(() => undefined);
    for (const key of [...this.#running.keys()]) await this.#close(key);
    if (this.#portals) {
      await this.#portals.cleanup().catch((err) => this.#log.warn({ err }, 'portal cleanup failed'));
    }
    await this.#serviceHealth.stop();
    await this.#claims?.stop();
    await this.#healthSrv?.stop();
    await this.#metricsSrv?.stop();
    if (this.#d.ownInformers !== false) await Promise.all([this.#d.services.stop(), this.#d.slices.stop(), this.#d.nodes?.stop()]);
  }
}
