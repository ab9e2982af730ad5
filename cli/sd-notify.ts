// systemd's notify protocol for Type=notify units (sd_notify(3)): READY=1 once the node is registered
// and the first pod sync is done, STATUS= lines a person sees in `systemctl status`, WATCHDOG=1 every
// WatchdogSec/2 only while the sync loop turns (a stalled loop stops the pings, so systemd restarts
// the agent), STOPPING=1 on the way out. Node cannot send AF_UNIX datagrams, so each message goes
// through `systemd-notify` (the unit sets NotifyAccess=all; systemd-notify ≥ 246 waits on a barrier
// until the manager has read it, so the sender's short life loses nothing).
import { execFile } from 'node:child_process';
import { systemClock, sleepFor, type Clock } from '../lib/clock.js';
import type { Lifecycle } from '../lib/lifecycle.js';
import type { Logger } from '../lib/log.js';

export type NotifySend = (fields: string[]) => Promise<void>;

/** Sends one notification with `systemd-notify` to env.NOTIFY_SOCKET (MAINPID is this process). */
export const systemdNotify = (fields: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> =>
  new Promise((resolve, reject) => {
    execFile('systemd-notify', [`--pid=${process.pid}`, ...fields], { timeout: 10_000, env }, (err, _out, stderr) =>
      err ? reject(new Error(`systemd-notify: ${String(stderr).trim() || err.message}`)) : resolve());
  });

export interface NotifierOptions {
  /** True once the node is registered and the first pod sync is done. */
  ready: () => boolean;
  /** A counter that grows while the sync loop turns (PLEG relists). */
  progress: () => number;
  /** One line for STATUS= (e.g. "12 pods, node Ready"). */
  status?: () => string;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  send?: NotifySend;
  clock?: Clock;
  /** The loop counts as stalled after this long without progress (upstream syncLoopHealthCheck: 2 min). */
  stallMs?: number;
}

/** WATCHDOG_USEC/2 in ms when the watchdog is on for this process, else undefined. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export class SystemdNotifier implements Lifecycle {
  readonly #o: NotifierOptions;
  readonly #send: NotifySend;
  readonly #clock: Clock;
  #ctl?: AbortController;
  #loops: Promise<void>[] = [];
  #ready = false;
  #lastProgress = -1;
  #progressAt = 0;

  constructor(opts: NotifierOptions) {
    this.#o = opts;
    this.#send = opts.send ?? ((fields) => systemdNotify(fields, opts.env ?? process.env));
    this.#clock = opts.clock ?? systemClock;
  }

  /** Only under systemd (NOTIFY_SOCKET set); elsewhere start/stop do nothing. */
  get enabled(): boolean {
    return Boolean((this.#o.env ?? process.env).NOTIFY_SOCKET);
  }

  get readySent(): boolean {
    return this.#ready;
  }

  /** undefined when the sync loop turned within stallMs, else why not. */
  unhealthy(): string | undefined {
    const n = this.#o.progress();
    const now = this.#clock.now();
    if (n !== this.#lastProgress) {
      this.#lastProgress = n;
      this.#progressAt = now;
      return undefined;
    }
    const idle = now - this.#progressAt;
    return idle > (this.#o.stallMs ?? 120_000) ? `sync loop stalled: ${Math.round(idle / 1000)} s without a relist` : undefined;
  }

  async #notify(fields: string[]): Promise<void> {
    try {
      await this.#send(fields);
    } catch (err) {
      this.#o.log.warn({ err, fields: fields.map((f) => f.split('=')[0]) }, 'sd_notify failed');
    }
  }

  start(signal: AbortSignal): Promise<void> {
    if (!this.enabled || this.#ctl) return Promise.resolve();
    const ctl = new AbortController();
    this.#ctl = ctl;
    signal.addEventListener('abort', () => ctl.abort(), { once: true });
    this.#progressAt = this.#clock.now();
    this.#loops.push(this.#readyLoop(ctl.signal));
    const every = watchdogIntervalMs(this.#o.env ?? process.env);
    if (every !== undefined) this.#loops.push(this.#watchdogLoop(ctl.signal, every));
    return Promise.resolve();
  }

  async #readyLoop(signal: AbortSignal): Promise<void> {
    await this.#notify(['STATUS=starting: registering the node and syncing pods']);
    while (!signal.aborted && !this.#o.ready()) await sleepFor(this.#clock, 500, signal);
    if (signal.aborted) return;
    this.#ready = true;
    await this.#notify(['READY=1', `STATUS=${this.#o.status?.() ?? 'running'}`]);
    this.#o.log.info('systemd notified: READY=1');
    while (!signal.aborted) {
      await sleepFor(this.#clock, 30_000, signal);
      if (!signal.aborted) await this.#notify([`STATUS=${this.unhealthyStatus() ?? this.#o.status?.() ?? 'running'}`]);
    }
  }

  private unhealthyStatus(): string | undefined {
    const why = this.unhealthy();
    return why ? `unhealthy: ${why}` : undefined;
  }

  async #watchdogLoop(signal: AbortSignal, everyMs: number): Promise<void> {
    let warned = false;
    while (!signal.aborted) {
      const why = this.unhealthy();
      if (!why) {
        warned = false;
        await this.#notify(['WATCHDOG=1']);
      } else if (!warned) {
        warned = true;
        this.#o.log.error({ reason: why }, 'withholding the systemd watchdog ping: systemd will restart the agent');
        await this.#notify([`STATUS=unhealthy: ${why}`]);
      }
      await sleepFor(this.#clock, everyMs, signal);
    }
  }

  async stop(): Promise<void> {
    if (!this.#ctl) return;
    this.#ctl.abort();
    await Promise.allSettled(this.#loops);
    this.#loops = [];
    await this.#notify(['STOPPING=1', 'STATUS=stopping']);
  }
}
