// The proxier's side of shard processes: which TCP listeners they accept on too (those without
// ClientIP affinity whose data path has a JavaScript listening socket to share), keeping their
// endpoints and selection in step, and adding their counters to the listener's own.
import { errorMessage } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import type { BalancerConfig } from '../balancer.js';
import type { ListenerStats } from '../stats.js';
import { TcpListener, TCP_DEFAULTS } from '../tcp.js';
import type { ServicePortEntry } from '../types.js';
import type { UdpListener } from '../udp.js';
import { ShardPool } from './pool.js';
import { addCounters, snapshot } from './protocol.js';

export interface SharingOptions {
  shards: number;
  log: Logger;
  tcpIdleTimeoutMs?: number;
  maxConnectionsPerListener?: number;
}

export class ListenerSharing {
  readonly #o: SharingOptions;
  #pool: ShardPool | null = null;
  /** Keys whose listener the shard processes accept on too. */
  #sharded = new Set<string>();

  constructor(o: SharingOptions) {
    this.#o = o;
  }

  /** Starts the shard processes (none when shards is 0; on failure this process serves alone). */
  async start(signal: AbortSignal): Promise<void> {
    const n = this.#o.shards;
    if (n <= 0) return;
    const pool = new ShardPool({ shards: n, log: this.#o.log.child({ component: 'proxy-shards' }) });
    try {
      await pool.start(signal);
      this.#pool = pool;
      this.#o.log.info({ shards: n, pids: pool.pids() }, 'proxy shard processes started');
    } catch (err) {
      this.#o.log.error({ err: errorMessage(err) }, 'proxy shard processes could not start; serving from this process only');
      await pool.stop().catch(() => undefined);
    }
  }

  has(key: string): boolean {
    return this.#sharded.has(key);
  }

  /** A listener's counters, plus its shards' when it is shared. */
  stats(key: string, own: ListenerStats): ListenerStats {
    if (!this.#pool || !this.#sharded.has(key)) return own;
    const sum = this.#pool.remoteStats(key);
    addCounters(sum, snapshot(own), true);
    return sum;
  }

  /** Shares a TCP listener without ClientIP affinity with the shard processes (or updates them). */
  async share(e: ServicePortEntry, listener: TcpListener | UdpListener, balancerConfig: BalancerConfig): Promise<void> {
    const pool = this.#pool;
    if (!pool) return;
    const tcp = listener instanceof TcpListener ? listener : null;
    const server = tcp?.server ?? null;
    const want = server !== null && e.sessionAffinity !== 'ClientIP';
    const has = this.#sharded.has(e.key);
    if (has && want) return pool.update(e.key, e.endpoints, balancerConfig);
    if (has) return this.unshare(e.key);
    if (!want) return;
    try {
      // attach() takes the listener back from every shard itself when it fails.
      await pool.attach(e.key, server, {
        balancerConfig, endpoints: e.endpoints, mode: tcp!.mode,
        idleTimeoutMs: this.#o.tcpIdleTimeoutMs ?? TCP_DEFAULTS.idleTimeoutMs, maxConnections: this.#o.maxConnectionsPerListener ?? TCP_DEFAULTS.maxConnections,
      });
      this.#sharded.add(e.key);
    } catch (err) {
      this.#o.log.warn({ servicePort: e.key, err: errorMessage(err) }, 'could not share the listener with the shard processes; this process serves it alone');
    }
  }

  async unshare(key: string): Promise<void> {
    if (!this.#pool || !this.#sharded.delete(key)) return;
    await this.#pool.detach(key);
    this.#pool.forget(key);
  }

  /** Asks every shard for its current counters (before a metrics scrape). */
  async refresh(): Promise<void> {
    await this.#pool?.refresh();
  }

  async stop(): Promise<void> {
    await this.#pool?.stop();
    this.#pool = null;
    this.#sharded.clear();
  }
}
