// Loads and starts the native relay (proxy/native/*.c, built by scripts/build-native.sh into
// build/relay.node). It is optional, as ws's bufferutil is: where it was not built (no compiler on
// the host), does not load, or its engine (epoll sets, async handle, relay threads) cannot start, the
// proxy uses the one fallback, the net.Socket pump, and says why once.
// Relay threads: DOCKERLET_RELAY_THREADS (tests, benchmarks), else the proxy config's relayThreads
// (configureNativeRelay, before the first listener), else one per core up to 4.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { getSystemErrorName } from 'node:util';
import type { DataPathMode } from '../conn.js';

/** The addon's functions (proxy/native/addon.c). Listener ids are > 0; failures are -errno. */
export interface NativeRelay {
  /** Starts the engine with this many relay threads (the first call's count wins): the count running, or -errno. */
  start(threads: number): number;
  listen(host: string, port: number, backlog: number, maxConnections: number, idleTimeoutMs: number, dialStepsMs: readonly number[]): number;
  port(id: number): number;
  setTargets(id: number, ips: readonly string[], ports: readonly number[], affinityMs: number): number;
  closeTarget(id: number, ip: string, port: number): number;
  stats(id: number, out: Float64Array): number;
  connections(id: number): string[];
  /** Connections each relay thread has accepted and connected for the listener (optional: tests, diagnostics). */
  perThread?(id: number): number[];
  close(id: number): number;
}

/** The order of the counters stats() fills (S_* in the C source). */
export const NATIVE_STATS = ['connectionsTotal', 'active', 'bytesIn', 'bytesOut', 'connectFailures', 'rejects', 'drops', 'endpointRemovalCloses', 'idleTimeouts', 'listenerErrors'] as const;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where scripts/build-native.sh puts the addon (DOCKERLET_NATIVE_RELAY overrides; '' turns it off). */
export const NATIVE_RELAY_PATH = process.env.DOCKERLET_NATIVE_RELAY ?? path.join(root, 'build', 'relay.node');

let cached: NativeRelay | null | undefined;
let why = '';
let threadsWanted: number | undefined;
let threadsRunning = 0;

/** The most relay threads a host gets by default (one per core up to this). */
export const DEFAULT_MAX_RELAY_THREADS = 4;
export const MAX_RELAY_THREADS = 64;

/** The default thread count for this host: one per core, at most DEFAULT_MAX_RELAY_THREADS. */
export function defaultRelayThreads(): number {
  return Math.max(1, Math.min(availableParallelism(), DEFAULT_MAX_RELAY_THREADS));
}

function envThreads(): number | undefined {
  const v = process.env.DOCKERLET_RELAY_THREADS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 && n <= MAX_RELAY_THREADS ? n : undefined;
}

/**
 * Sets the relay's thread count before it starts (the proxy config's relayThreads). The engine is
 * process-wide: once it runs, its count stays; returns false when it already runs with another count.
 */
export function configureNativeRelay(o: { threads?: number }): boolean {
  if (o.threads === undefined) return true;
  if (cached !== undefined) return !cached || threadsRunning === o.threads;
  threadsWanted = o.threads;
  return true;
}

/** Relay threads running (0 before the engine started or when it is unavailable). */
export function nativeRelayThreads(): number {
  return threadsRunning;
}

/**
 * The addon, or null (then nativeRelayUnavailable() says why). One engine per process (its relay
 * threads and epoll sets are process-wide), driven from the main thread only.
 */
export function nativeRelay(): NativeRelay | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (!NATIVE_RELAY_PATH) { why = 'turned off (DOCKERLET_NATIVE_RELAY is empty)'; return null; }
  if (!isMainThread) { why = 'not in a worker thread (the engine is process-wide)'; return null; }
  if (process.platform !== 'linux') { why = `not built for ${process.platform}`; return null; }
  if (!existsSync(NATIVE_RELAY_PATH)) { why = `${NATIVE_RELAY_PATH} is not built (scripts/build-native.sh)`; return null; }
  try {
    const m = createRequire(import.meta.url)(NATIVE_RELAY_PATH) as Partial<NativeRelay>;
    const fns: (keyof NativeRelay)[] = ['start', 'listen', 'port', 'setTargets', 'closeTarget', 'stats', 'connections', 'close'];
    const missing = fns.filter((f) => typeof m[f] !== 'function');
    if (missing.length) { why = `${NATIVE_RELAY_PATH} lacks ${missing.join(', ')}`; return null; }
    const rc = (m as NativeRelay).start(envThreads() ?? threadsWanted ?? defaultRelayThreads());
    if (rc < 0) { why = `its engine did not start: ${getSystemErrorName(rc)}`; return null; }
    threadsRunning = rc;
    cached = m as NativeRelay;
  } catch (err) {
    why = `${NATIVE_RELAY_PATH} did not load: ${(err as Error).message}`;
  }
  return cached;
}

export function nativeRelayUnavailable(): string {
  nativeRelay();
  return why;
}

/**
 * The TCP data path a proxy runs for the one asked for (undefined: the default, native): the native
 * relay where it loads and starts, else the pump. `why` says so when it changed.
 */
export function resolveDataPath(wanted: DataPathMode | undefined, relayThreads?: number): { mode: DataPathMode; why?: string } {
  if (wanted === 'pump') return { mode: 'pump' };
  configureNativeRelay({ threads: relayThreads });
  if (!nativeRelay()) return { mode: 'pump', why: `native relay unavailable: ${nativeRelayUnavailable()}` };
  return { mode: 'native' };
}
