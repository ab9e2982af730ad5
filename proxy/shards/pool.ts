// ShardPool: N child processes that accept on the primary's listening sockets (each gets its own dup
// of the fd over IPC, like cluster's SCHED_NONE) while the primary keeps accepting too. Children that
// die are restarted with back-off and re-attached to every current listener; counters of every child
// are summed so remoteStats() never goes down.
import { fork as nodeFork, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backoff, type BackoffOptions } from '../../lib/backoff.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { delay } from '../../lib/lifecycle.js';
import { component, type Logger } from '../../lib/log.js';
import type { BalancerConfig } from '../balancer.js';
import { ListenerStats } from '../stats.js';
import type { EndpointInfo } from '../types.js';
import {
  DEFAULT_STATS_INTERVAL_MS, STATS_INTERVAL_ENV, addCounters, isChildMsg, zeroCounters,
  type ChildMsg, type PrimaryMsg, type ShardListenerSpec, type StatCounters,
} from './protocol.js';

export interface ShardPoolOptions {
  shards: number;
  log?: Logger;
  statsIntervalMs?: number;
  /** Path (or file: URL) of the child entry; default child-main next to this file. */
  childEntry?: string;
  forkImpl?: typeof nodeFork;
  readyTimeoutMs?: number;
  attachTimeoutMs?: number;
  /** How long a child may take to close its copy of a socket before it is killed (default 5 s). */
  detachTimeoutMs?: number;
  stopTimeoutMs?: number;
  backoff?: BackoffOptions;
  clock?: Clock;
}

type Outcome = { kind: 'ok' } | { kind: 'error'; message: string } | { kind: 'exit' } | { kind: 'timeout' };

interface Slot {
  index: number;
  state: 'idle' | 'starting' | 'running' | 'backoff' | 'stopped';
  child: ChildProcess | null;
  /** Resolves when the current child has exited. */
  exited: Promise<void>;
  /** Latest cumulative counters per key reported by the current child. */
  latest: Map<string, StatCounters>;
  waiters: Map<string, ((o: Outcome) => void)[]>;
  timer: NodeJS.Timeout | null;
}

interface Attached {
  server: Server;
  spec: ShardListenerSpec;
}

const DEFAULTS = {
  readyTimeoutMs: 30_000,
  attachTimeoutMs: 10_000,
  detachTimeoutMs: 5_000,
  stopTimeoutMs: 3_000,
  killWaitMs: 3_000,
  backoff: { initialMs: 250, maxMs: 30_000, resetAfterMs: 120_000 } satisfies BackoffOptions,
};

function defaultEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return path.join(path.dirname(self), `child-main${path.extname(self)}`);
}

export class ShardPool {
  readonly #opts: ShardPoolOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  #slots: Slot[] = [];
  #listeners = new Map<string, Attached>();
  /** Counters of children that exited or detached (folded; `active` excluded). */
  #retired = new Map<string, StatCounters>();
  #stopping: Promise<void> | null = null;

  constructor(opts: ShardPoolOptions) {
    if (!Number.isInteger(opts.shards) || opts.shards < 0 || opts.shards > 256) {
      throw new DockerletError(ErrorCodes.CONFIG_INVALID, `proxy shards must be an integer in 0..256, got ${opts.shards}`);
    }
    this.#opts = { ...opts };
    this.#log = opts.log ?? component('proxy-shards');
    this.#backoff = new Backoff(opts.backoff ?? DEFAULTS.backoff, opts.clock ?? systemClock);
  }

  /** Number of shard processes this pool runs. */
  get size(): number {
    return this.#opts.shards;
  }

  /** Pids of the live shard processes (for tests and diagnostics). */
  pids(): number[] {
    return this.#slots.flatMap((s) => (s.child?.pid !== undefined && s.child.exitCode === null && s.child.signalCode === null ? [s.child.pid] : []));
  }

  /** Forks every shard and waits until each has said ready. */
  async start(signal: AbortSignal): Promise<void> {
    if (this.#slots.length > 0 || this.#stopping) return;
    if (signal.aborted) return;
    signal.addEventListener('abort', () => void this.stop(), { once: true });
    for (let i = 0; i < this.#opts.shards; i++) {
      this.#slots.push({ index: i, state: 'idle', child: null, exited: Promise.resolve(), latest: new Map(), waiters: new Map(), timer: null });
    }
    const ok = await Promise.all(this.#slots.map((s) => this.#spawn(s)));
    if (ok.includes(false)) {
      if (this.#stopping) return; // aborted while starting
      await this.stop();
      throw new DockerletError(ErrorCodes.PROXY, `proxy shards did not start (${ok.filter((x) => !x).length} of ${ok.length} failed)`);
    }
    this.#log.info({ shards: this.size, pids: this.pids() }, 'proxy shards started');
  }

  /** Hands a listening server to every shard; resolves when each running shard has attached. */
  async attach(key: string, server: Server, spec: ShardListenerSpec): Promise<void> {
    if (this.#stopping) throw new DockerletError(ErrorCodes.PROXY, `shard pool stopped; cannot attach ${key}`);
    if (!server.listening) throw new DockerletError(ErrorCodes.PROXY, `cannot shard ${key}: its server is not listening`);
    this.#listeners.set(key, { server, spec: cloneSpec(spec) });
    const running = this.#slots.filter((s) => s.state === 'running');
    const results = await Promise.all(running.map((s) => this.#attachOne(s, key)));
    const failed = results.flatMap((r) => (r.kind === 'error' ? [r.message] : []));
    if (failed.length > 0) {
      await this.detach(key);
      throw new DockerletError(ErrorCodes.PROXY, `shard attach of ${key} failed: ${failed[0]}`, { details: { failures: failed.length } });
    }
  }

  /** New endpoints / balancer config for a sharded listener (remembered for restarts). */
  update(key: string, endpoints: readonly EndpointInfo[], balancerConfig: BalancerConfig): void {
    const a = this.#listeners.get(key);
    if (!a) return;
    a.spec = { ...a.spec, endpoints: endpoints.map((e) => ({ ...e })), balancerConfig: { ...balancerConfig } };
    const msg: PrimaryMsg = { type: 'update', key, endpoints: a.spec.endpoints, balancerConfig: a.spec.balancerConfig };
    for (const s of this.#slots) if (s.state === 'running') this.#send(s, msg);
  }

  /**
   * Takes a listener away from every shard; resolves once no shard holds its socket any more. A shard
   * that does not answer within detachTimeoutMs is killed (and restarted without this listener).
   */
  async detach(key: string): Promise<void> {
    this.#listeners.delete(key);
    const holders = this.#slots.filter((s) => s.state === 'running' && s.child);
    await Promise.all(holders.map(async (s) => {
      const child = s.child!;
      const wait = this.#expect(s, `detached:${key}`, this.#opts.detachTimeoutMs ?? DEFAULTS.detachTimeoutMs);
      this.#send(s, { type: 'detach', key });
      const r = await wait;
      if (r.kind === 'timeout' && s.child === child) await this.#kill(s, `did not detach ${key}`);
    }));
  }

  /** Drops the folded counters of a key that is gone for good. */
  forget(key: string): void {
    if (this.#listeners.has(key)) return;
    this.#retired.delete(key);
    for (const s of this.#slots) s.latest.delete(key);
  }

  /**
   * Asks every running shard for its counters now and waits for the answers (each at most
   * timeoutMs), so that a metrics scrape is current instead of up to a stats interval late.
   */
  async refresh(timeoutMs = 250): Promise<void> {
    await Promise.all(this.#slots.filter((s) => s.state === 'running' && s.child).map((s) => {
      const answered = this.#expect(s, 'report', timeoutMs);
      this.#send(s, { type: 'report' });
      return answered;
    }));
  }

  /** Sum over shards of the latest cumulative counters for key (`active` = sum of the latest gauges). */
  remoteStats(key: string): ListenerStats {
    const out = new ListenerStats();
    const r = this.#retired.get(key);
    if (r) addCounters(out, r, false);
    for (const s of this.#slots) {
      const c = s.latest.get(key);
      if (c) addCounters(out, c, true);
    }
    return out;
  }

  /** Asks every shard to stop, waits (bounded), then SIGKILLs what is left. Safe to call twice. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const stopMs = this.#opts.stopTimeoutMs ?? DEFAULTS.stopTimeoutMs;
      await Promise.all(this.#slots.map(async (s) => {
        if (s.timer) { clearTimeout(s.timer); s.timer = null; }
        const prev = s.state;
        s.state = 'stopped';
        if (!s.child) return;
        if (prev !== 'idle') this.#send(s, { type: 'stop' });
        if (await this.#exitedWithin(s, stopMs)) return;
        await this.#kill(s, 'did not stop in time');
      }));
      this.#listeners.clear();
    })();
    return this.#stopping;
  }

  // ---- child processes ----

  async #spawn(s: Slot): Promise<boolean> {
    s.state = 'starting';
    const entry = this.#entry();
    const execArgv = /\.[cm]?ts$/.test(entry) ? ['--import', import.meta.resolve('tsx')] : [];
    let child: ChildProcess;
    try {
      child = (this.#opts.forkImpl ?? nodeFork)(entry, [], {
        execArgv,
        env: { ...process.env, [STATS_INTERVAL_ENV]: String(this.#opts.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS), DOCKERLET_SHARD_INDEX: String(s.index) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'json',
      });
    } catch (err) {
      this.#log.warn({ shard: s.index, err: (err as Error).message }, 'cannot fork proxy shard');
      this.#scheduleRestart(s);
      return false;
    }
    s.child = child;
    let gone = false;
    let markExited!: () => void;
    s.exited = new Promise<void>((r) => { markExited = r; });
    const onGone = (code: number | null, sig: NodeJS.Signals | null, err?: Error) => {
      if (gone) return;
      gone = true;
      markExited();
      this.#onExit(s, child, code, sig, err);
    };
    child.on('exit', (code, sig) => onGone(code, sig));
    child.on('error', (err) => {
      if (child.pid === undefined) onGone(null, null, err);
      else this.#log.debug({ shard: s.index, err: err.message }, 'proxy shard channel error');
    });
    child.on('message', (m: unknown) => { if (s.child === child && isChildMsg(m)) this.#onMessage(s, m); });

    const ready = await this.#expect(s, 'ready', this.#opts.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs);
    if (ready.kind !== 'ok' || s.child !== child || s.state !== 'starting') {
      if (ready.kind === 'timeout' && s.child === child) await this.#kill(s, 'not ready in time');
      return false;
    }
    // From here on attach()/update() talk to this child directly; it gets every current listener now.
    s.state = 'running';
    const keys = [...this.#listeners.keys()];
    if (keys.length > 0) {
      void Promise.all(keys.map((k) => this.#attachOne(s, k))).then((rs) => {
        this.#log.info({ shard: s.index, pid: child.pid, listeners: keys.length, failed: rs.filter((r) => r.kind !== 'ok').length }, 'proxy shard re-attached');
      });
    }
    return true;
  }

  #onExit(s: Slot, child: ChildProcess, code: number | null, sig: NodeJS.Signals | null, err?: Error): void {
    if (s.child !== child) return;
    s.child = null;
    for (const [key, c] of s.latest) this.#fold(key, c);
    s.latest.clear();
    const waiters = [...s.waiters.values()].flat();
    s.waiters.clear();
    for (const w of waiters) w({ kind: 'exit' });
    if (this.#stopping || s.state === 'stopped') { s.state = 'stopped'; return; }
    this.#log.warn({ shard: s.index, pid: child.pid, code, signal: sig, err: err?.message }, 'proxy shard exited unexpectedly');
    this.#scheduleRestart(s);
  }

  #scheduleRestart(s: Slot): void {
    s.state = 'backoff';
    const ms = this.#backoff.next(`shard-${s.index}`);
    s.timer = setTimeout(() => {
      s.timer = null;
      if (this.#stopping) return;
      void this.#spawn(s).then((ok) => { if (ok) this.#log.info({ shard: s.index, pid: s.child?.pid }, 'proxy shard restarted'); });
    }, ms);
  }

  #onMessage(s: Slot, m: ChildMsg): void {
    switch (m.type) {
      case 'ready': return this.#settle(s, 'ready', { kind: 'ok' });
      case 'attached': return this.#settle(s, `attached:${m.key}`, { kind: 'ok' });
      case 'detached':
        s.latest.delete(m.key);
        this.#fold(m.key, m.stats);
        return this.#settle(s, `detached:${m.key}`, { kind: 'ok' });
      case 'stats':
        s.latest = new Map(Object.entries(m.listeners ?? {}));
        if (m.reply) this.#settle(s, 'report', { kind: 'ok' });
        return;
      case 'error':
        this.#log.warn({ shard: s.index, key: m.key, err: m.message }, 'proxy shard reported an error');
        if (m.key) this.#settle(s, `attached:${m.key}`, { kind: 'error', message: m.message });
        return;
    }
  }

  async #attachOne(s: Slot, key: string): Promise<Outcome> {
    const a = this.#listeners.get(key);
    const child = s.child;
    if (!a || !child) return { kind: 'exit' };
    const wait = this.#expect(s, `attached:${key}`, this.#opts.attachTimeoutMs ?? DEFAULTS.attachTimeoutMs);
    this.#send(s, { type: 'attach', key, spec: a.spec }, a.server);
    const r = await wait;
    // Unanswered: kill it; the restarted child is attached to every current listener again.
    if (r.kind === 'timeout' && s.child === child) await this.#kill(s, `did not attach ${key}`);
    return r;
  }

  #send(s: Slot, msg: PrimaryMsg, handle?: Server): void {
    const c = s.child;
    if (!c || !c.connected) return;
    const onSent = (err: Error | null) => {
      if (!err) return;
      this.#log.debug({ shard: s.index, type: msg.type, err: err.message }, 'ipc send to proxy shard failed');
      if ('key' in msg && msg.type === 'attach') this.#settle(s, `attached:${msg.key}`, { kind: 'error', message: err.message });
    };
    try {
      if (handle) c.send(msg, handle, onSent);
      else c.send(msg, onSent);
    } catch (err) {
      onSent(err as Error);
    }
  }

  #expect(s: Slot, tag: string, timeoutMs: number): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const list = s.waiters.get(tag) ?? [];
      const timer = setTimeout(() => {
        const l = s.waiters.get(tag);
        if (l) { const i = l.indexOf(done); if (i >= 0) l.splice(i, 1); if (l.length === 0) s.waiters.delete(tag); }
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      function done(o: Outcome) { clearTimeout(timer); resolve(o); }
      list.push(done);
      s.waiters.set(tag, list);
    });
  }

  /** Resolves the oldest waiter for tag (messages from one child arrive in the order it answers). */
  #settle(s: Slot, tag: string, o: Outcome): void {
    const l = s.waiters.get(tag);
    const w = l?.shift();
    if (l && l.length === 0) s.waiters.delete(tag);
    w?.(o);
  }

  async #exitedWithin(s: Slot, ms: number): Promise<boolean> {
    if (!s.child) return true;
    const ac = new AbortController();
    const exited = await Promise.race([s.exited.then(() => true), delay(ms, ac.signal).then(() => false)]);
    ac.abort();
    return exited;
  }

  /** SIGKILLs the slot's child and waits (bounded) for it to be gone, so its socket copies are closed. */
  async #kill(s: Slot, reason: string): Promise<void> {
    const c = s.child;
    if (!c) return;
    this.#log.warn({ shard: s.index, pid: c.pid, reason }, 'killing proxy shard');
    c.kill('SIGKILL');
    if (!(await this.#exitedWithin(s, DEFAULTS.killWaitMs))) this.#log.error({ shard: s.index, pid: c.pid }, 'proxy shard did not exit after SIGKILL');
  }

  #fold(key: string, c: StatCounters): void {
    let r = this.#retired.get(key);
    if (!r) { r = zeroCounters(); this.#retired.set(key, r); }
    addCounters(r, c, false);
  }

  #entry(): string {
    const e = this.#opts.childEntry ?? defaultEntry();
    return e.startsWith('file:') ? fileURLToPath(e) : path.resolve(e);
  }
}

function cloneSpec(spec: ShardListenerSpec): ShardListenerSpec {
  return {
    ...spec,
    balancerConfig: { ...spec.balancerConfig },
    endpoints: spec.endpoints.map((e) => ({ ...e })),
    dialTimeoutsMs: spec.dialTimeoutsMs ? [...spec.dialTimeoutsMs] : undefined,
  };
}
