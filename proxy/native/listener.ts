// A TcpListener's native side: one listening socket in the native relay (engine.ts). The listener
// pushes its balancer's usable endpoints (round-robin order, affinity timeout) and, where asked, the
// endpoints that left the slice; the relay threads do accept, dial, relay and close on their own and keep the counters.
import { getSystemErrorName } from 'node:util';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { Balancer } from '../balancer.js';
import type { ListenerStats } from '../stats.js';
import type { EndpointInfo } from '../types.js';
import { NATIVE_STATS, type NativeRelay } from './engine.js';

export interface NativeListenOptions {
  host: string;
  port: number;
  backlog: number;
  maxConnections: number;
  idleTimeoutMs: number;
  dialTimeoutsMs: readonly number[];
}

export class NativeTcp {
  readonly #relay: NativeRelay;
  readonly #key: string;
  readonly #counters = new Float64Array(NATIVE_STATS.length);
  #id = 0;
  /** ip:port of every endpoint in the slice at the last update (not only the usable ones). */
  #present = new Map<string, { ip: string; port: number }>();

  constructor(relay: NativeRelay, key: string) {
    this.#relay = relay;
    this.#key = key;
  }

  /** Binds, gives the relay the balancer's current selection and starts accepting; returns the bound port. */
  listen(o: NativeListenOptions, balancer: Balancer): number {
    if (this.#id) return this.#relay.port(this.#id);
    const id = this.#relay.listen(o.host, o.port, o.backlog, o.maxConnections, o.idleTimeoutMs, o.dialTimeoutsMs);
    if (id < 0) {
      const code = getSystemErrorName(id);
      throw new DockerletError(ErrorCodes.PROXY, `listen for ${this.#key} on ${o.host}:${o.port} failed: ${code}`, { details: { code } });
    }
    this.#id = id;
    this.#pushTargets(balancer);
    return this.#relay.port(id);
  }

  get listening(): boolean {
    return this.#id > 0;
  }

  /**
   * The balancer's current selection goes to the relay; with closeRemoved, connections to endpoints
   * that left the slice are reset (endpoints still listed, even not ready, keep theirs). Returns how
   * many were closed.
   */
  update(balancer: Balancer, endpoints: readonly EndpointInfo[], closeRemoved: boolean): number {
    const present = new Map<string, { ip: string; port: number }>();
    for (const e of endpoints) present.set(`${e.ip}:${e.port}`, { ip: e.ip, port: e.port });
    const previous = this.#present;
    this.#present = present;
    if (!this.#id) return 0;
    this.#pushTargets(balancer);
    if (!closeRemoved) return 0;
    let closed = 0;
    for (const [key, e] of previous) if (!present.has(key)) closed += this.#relay.closeTarget(this.#id, e.ip, e.port);
    return closed;
  }

  #pushTargets(balancer: Balancer): void {
    const targets = balancer.targets();
    this.#relay.setTargets(this.#id, targets.map((t) => t.ip), targets.map((t) => t.port), balancer.sticky ? balancer.ttlMs() : 0);
  }

  /** Copies the relay's counters into stats. */
  readStats(stats: ListenerStats): void {
    if (!this.#id || this.#relay.stats(this.#id, this.#counters) !== 0) return;
    NATIVE_STATS.forEach((name, i) => { stats[name] = this.#counters[i]!; });
  }

  connectionsByEndpoint(): Map<string, number> {
    const m = new Map<string, number>();
    if (this.#id) for (const k of this.#relay.connections(this.#id)) m.set(k, (m.get(k) ?? 0) + 1);
    return m;
  }

  /** Stops accepting and resets every open connection. */
  close(): void {
    if (!this.#id) return;
    this.#relay.close(this.#id);
    this.#id = 0;
  }
}
