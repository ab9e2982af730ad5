// IPC between the proxy's primary process and its shard children (plain JSON messages over the
// fork() channel; an 'attach' travels with the primary's listening net.Server as the send handle).
import type { BalancerConfig } from '../balancer.js';
import type { DataPathMode } from '../conn.js';
import { ListenerStats } from '../stats.js';
import type { EndpointInfo } from '../types.js';

/** Everything a shard needs to run its own TcpListener on a copy of the primary's socket. */
export interface ShardListenerSpec {
  balancerConfig: BalancerConfig;
  endpoints: EndpointInfo[];
  idleTimeoutMs: number;
  maxConnections: number;
  dialTimeoutsMs?: number[];
  mode?: DataPathMode;
  highWaterMark?: number;
  readBufferSize?: number;
}

/** ListenerStats as plain numbers (cumulative, except `active` which is a gauge). */
export type StatCounters = { [K in keyof ListenerStats]: number };

// ---- primary → child ----
/** Sent together with the listening net.Server handle. */
export interface AttachMsg { type: 'attach'; key: string; spec: ShardListenerSpec }
export interface UpdateMsg { type: 'update'; key: string; endpoints: EndpointInfo[]; balancerConfig: BalancerConfig }
export interface DetachMsg { type: 'detach'; key: string }
export interface StopMsg { type: 'stop' }
/** Send the counters now (a metrics scrape is waiting for them). */
export interface ReportMsg { type: 'report' }
export type PrimaryMsg = AttachMsg | UpdateMsg | DetachMsg | StopMsg | ReportMsg;

// ---- child → primary ----
export interface ReadyMsg { type: 'ready'; pid: number }
export interface AttachedMsg { type: 'attached'; key: string; port: number }
/** The child has closed its copy of the socket; `stats` are the key's final counters in this child. */
export interface DetachedMsg { type: 'detached'; key: string; stats: StatCounters }
/** Cumulative counters of every listener the child currently holds; `reply` when it answers a 'report'. */
export interface StatsMsg { type: 'stats'; listeners: Record<string, StatCounters>; reply?: boolean }
export interface ErrorMsg { type: 'error'; key?: string; message: string }
export type ChildMsg = ReadyMsg | AttachedMsg | DetachedMsg | StatsMsg | ErrorMsg;

/** Env var carrying the stats interval (ms) to a child. */
export const STATS_INTERVAL_ENV = 'DOCKERLET_SHARD_STATS_MS';
export const DEFAULT_STATS_INTERVAL_MS = 1000;

const COUNTER_NAMES = Object.keys(new ListenerStats()) as (keyof ListenerStats)[];

export function zeroCounters(): StatCounters {
  return snapshot(new ListenerStats());
}

export function snapshot(stats: ListenerStats | StatCounters): StatCounters {
  const out = {} as StatCounters;
  for (const k of COUNTER_NAMES) out[k] = Number(stats[k]) || 0;
  return out;
}

/** into += from; the `active` gauge is added only when withActive. */
export function addCounters(into: StatCounters | ListenerStats, from: StatCounters, withActive: boolean): void {
  for (const k of COUNTER_NAMES) {
    if (k === 'active' && !withActive) continue;
    into[k] += Number(from[k]) || 0;
  }
}

const PRIMARY_TYPES = new Set(['attach', 'update', 'detach', 'stop', 'report']);
const CHILD_TYPES = new Set(['ready', 'attached', 'detached', 'stats', 'error']);

function typed(m: unknown): m is { type: string; key?: unknown } {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}

/** Shape check at the IPC edge (the type field and key; payload fields are trusted, both ends are ours). */
export function isPrimaryMsg(m: unknown): m is PrimaryMsg {
  if (!typed(m) || !PRIMARY_TYPES.has(m.type)) return false;
  return m.type === 'stop' || m.type === 'report' || typeof m.key === 'string';
}

export function isChildMsg(m: unknown): m is ChildMsg {
  if (!typed(m) || !CHILD_TYPES.has(m.type)) return false;
  if (m.type === 'attached' || m.type === 'detached') return typeof m.key === 'string';
  return true;
}
