// A proxy shard process: receives copies of the primary's listening sockets over IPC and runs its own
// TcpListener on each, so several processes accept from the same socket (like cluster's SCHED_NONE).
// Reports cumulative per-listener counters to the primary; never imports the agent or the kube client.
import type { Server } from 'node:net';
import { component, type Logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import { Balancer } from '../balancer.js';
import { TcpListener } from '../tcp.js';
import {
  DEFAULT_STATS_INTERVAL_MS, STATS_INTERVAL_ENV, addCounters, isPrimaryMsg, snapshot, zeroCounters,
  type AttachMsg, type ChildMsg, type PrimaryMsg, type StatCounters, type UpdateMsg,
} from './protocol.js';

/** The parts of `process` a shard uses (a fake can be passed in tests). */
export interface ShardIO {
  readonly pid: number;
  readonly connected?: boolean;
  send?(message: unknown, sendHandle?: undefined, options?: undefined, callback?: (err: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown, handle: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
}

export interface ShardChildOptions {
  /** Default: env DOCKERLET_SHARD_STATS_MS, else 1000. */
  statsIntervalMs?: number;
  log?: Logger;
  /** Called once everything is stopped (default process.exit). */
  exit?: (code: number) => void;
}

export interface ShardChild {
  /** Stops every listener (closing this process's copies of the sockets), then calls exit(0). */
  shutdown(): Promise<void>;
  /** Keys of the listeners currently held. */
  keys(): string[];
}

interface Entry {
  listener: TcpListener;
  /** Counters of earlier listeners for this key that were replaced by a re-attach. */
  base: StatCounters;
}

const SHUTDOWN_BOUND_MS = 3000;

function intervalFromEnv(): number | undefined {
  const v = Number(process.env[STATS_INTERVAL_ENV]);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

function isServer(h: unknown): h is Server {
  return typeof h === 'object' && h !== null && typeof (h as Server).listen === 'function' && typeof (h as Server).address === 'function';
}

export function runShardChild(io: ShardIO = process as unknown as ShardIO, opts: ShardChildOptions = {}): ShardChild {
  const log = opts.log ?? component('proxy-shard', { shard: io.pid });
  const statsIntervalMs = opts.statsIntervalMs ?? intervalFromEnv() ?? DEFAULT_STATS_INTERVAL_MS;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const entries = new Map<string, Entry>();
  let chain: Promise<void> = Promise.resolve();
  let closing: Promise<void> | null = null;
  let lastStats = '';

  function send(msg: ChildMsg): void {
    if (!io.send || io.connected === false) return;
    try {
      io.send(msg, undefined, undefined, (err) => { if (err) log.debug({ err: err.message, type: msg.type }, 'ipc send failed'); });
    } catch (err) {
      log.debug({ err: errorMessage(err), type: msg.type }, 'ipc send failed');
    }
  }

  function counters(e: Entry): StatCounters {
    const c = snapshot(e.listener.stats);
    addCounters(c, e.base, false);
    return c;
  }

  /** Periodic: only when something changed. A reply to 'report' is sent always. */
  function sendStats(reply = false): void {
    const listeners: Record<string, StatCounters> = {};
    for (const [key, e] of entries) listeners[key] = counters(e);
    const text = JSON.stringify(listeners);
    if (!reply && text === lastStats) return;
    lastStats = text;
    send(reply ? { type: 'stats', listeners, reply } : { type: 'stats', listeners });
  }

  async function attach(msg: AttachMsg, handle: unknown): Promise<void> {
    const { key, spec } = msg;
    if (!isServer(handle)) throw new Error('attach without a listening server handle');
    if (closing) { handle.close(); return; }
    let base = zeroCounters();
    const old = entries.get(key);
    if (old) {
      await old.listener.stop();
      base = counters(old);
      entries.delete(key);
    }
    const listener = new TcpListener({
      key,
      balancer: new Balancer(spec.balancerConfig),
      server: handle,
      idleTimeoutMs: spec.idleTimeoutMs,
      maxConnections: spec.maxConnections,
      dialTimeoutsMs: spec.dialTimeoutsMs,
      mode: spec.mode,
      highWaterMark: spec.highWaterMark,
      readBufferSize: spec.readBufferSize,
      log,
    });
    listener.setEndpoints(spec.endpoints);
    let port: number;
    try {
      port = await listener.start();
    } catch (err) {
      handle.close();
      throw err;
    }
    if (closing) { await listener.stop(); return; }
    entries.set(key, { listener, base });
    log.debug({ key, port }, 'shard attached');
    send({ type: 'attached', key, port });
  }

  function update(msg: UpdateMsg): void {
    const e = entries.get(msg.key);
    if (!e) { log.debug({ key: msg.key }, 'update for a listener this shard does not hold'); return; }
    e.listener.balancer.setConfig(msg.balancerConfig);
    e.listener.setEndpoints(msg.endpoints);
  }

  async function detach(key: string): Promise<void> {
    const e = entries.get(key);
    if (!e) { send({ type: 'detached', key, stats: zeroCounters() }); return; }
    await e.listener.stop();
    const stats = counters(e);
    entries.delete(key);
    log.debug({ key }, 'shard detached');
    send({ type: 'detached', key, stats });
  }

  async function handle(msg: PrimaryMsg, h: unknown): Promise<void> {
    try {
      switch (msg.type) {
        case 'attach': return await attach(msg, h);
        case 'update': return update(msg);
        case 'detach': return await detach(msg.key);
        case 'stop': return void shutdown();
        case 'report': return sendStats(true);
      }
    } catch (err) {
      const key = 'key' in msg ? msg.key : undefined;
      log.warn({ err: errorMessage(err), key, type: msg.type }, 'shard request failed');
      send({ type: 'error', key, message: `${msg.type}${key ? ` ${key}` : ''}: ${errorMessage(err)}` });
    }
  }

  const timer = setInterval(() => sendStats(), statsIntervalMs);
  timer.unref();

  function shutdown(): Promise<void> {
    closing ??= (async () => {
      clearInterval(timer);
      const all = Promise.allSettled([...entries.values()].map((e) => e.listener.stop()));
      entries.clear();
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise<void>((r) => { bound = setTimeout(r, SHUTDOWN_BOUND_MS); })]);
      clearTimeout(bound);
      exit(0);
    })();
    return closing;
  }

  io.on('message', (msg, h) => {
    if (!isPrimaryMsg(msg)) return;
    if (msg.type === 'stop') { void shutdown(); return; }
    chain = chain.then(() => handle(msg, h));
  });
  io.on('disconnect', () => { void shutdown(); });
  send({ type: 'ready', pid: io.pid });

  return { shutdown, keys: () => [...entries.keys()] };
}
