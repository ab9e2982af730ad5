// A UDP listener for one service port: per-client sessions (one dgram socket per client,
// toward its chosen endpoint), replies sent back from the service socket, idle sessions reaped
// (kube-proxy's --udp-timeout default 250 ms), session count bounded: a datagram that would open a
// session beyond the cap is dropped, counted (errors_total{kind="drop"}) and logged (rate-limited).
// An endpoint that leaves the slice keeps its sessions until they go idle, as upstream's client
// cache did, unless closeRemovedEndpointSessions.
import dgram from 'node:dgram';
import { systemClock, type Clock, type Timer } from '../lib/clock.js';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import { partLogger, type Logger } from '../lib/log.js';
import type { Balancer } from './balancer.js';
import { ListenerStats } from './stats.js';
import { DEFAULT_UDP_IDLE_TIMEOUT_MS, type EndpointInfo, type Target } from './types.js';

export interface UdpListenerOptions {
  key: string;
  balancer: Balancer;
  bindAddress?: string;
  port?: number;
  idleTimeoutMs?: number;
  maxSessions?: number;
  /** Close the sessions of an endpoint that leaves the slice at once (default false: they end when idle). */
  closeRemovedEndpointSessions?: boolean;
  clock?: Clock;
  log?: Logger;
}

interface Session {
  key: string;
  address: string;
  port: number;
  target: Target;
  sock: dgram.Socket;
  lastActive: number;
}

export const UDP_DEFAULTS = { maxSessions: 4096 };

export class UdpListener {
  readonly key: string;
  readonly stats = new ListenerStats();
  readonly balancer: Balancer;
  readonly #opts: UdpListenerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #idleMs: number;
  #server: dgram.Socket | null = null;
  #port = 0;
  #sessions = new Map<string, Session>();
  #sweep: Timer | null = null;

  constructor(opts: UdpListenerOptions) {
    this.#opts = opts;
    this.key = opts.key;
    this.balancer = opts.balancer;
    this.#clock = opts.clock ?? systemClock;
    this.#log = partLogger(opts.log, 'udp-listener');
    this.#idleMs = opts.idleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
  }

  async start(): Promise<number> {
    if (this.#server) return this.#port;
    const server = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new DockerletError(ErrorCodes.PROXY, `udp bind for ${this.key} failed: ${err.message}`, { cause: err })));
      server.bind(this.#opts.port ?? 0, this.#opts.bindAddress ?? '0.0.0.0', () => resolve());
    });
    server.removeAllListeners('error');
    server.on('error', (err) => { this.stats.listenerErrors++; this.#log.warn({ err, key: this.key }, 'udp listener error'); });
    server.on('message', (msg, rinfo) => this.#onClientMessage(msg, rinfo));
    this.#server = server;
    this.#port = server.address().port;
    return this.#port;
  }

  get port(): number {
    return this.#port;
  }

  sessionCount(): number {
    return this.#sessions.size;
  }

  #onClientMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    let s = this.#sessions.get(key);
    if (!s) {
      const cap = this.#opts.maxSessions ?? UDP_DEFAULTS.maxSessions;
      if (this.#sessions.size >= cap) { this.#dropped(rinfo, cap); return; }
      const target = this.balancer.next(rinfo.address);
      if (!target) { this.stats.rejects++; return; }
      s = this.#open(key, rinfo, target);
    }
    s.lastActive = this.#clock.now();
    this.stats.bytesIn += msg.length;
    s.sock.send(msg, s.target.port, s.target.ip);
  }

  #dropLogged = 0;
  #dropped(rinfo: dgram.RemoteInfo, cap: number): void {
    this.stats.drops++;
    // The first drop, then one line per 1000, so a flood cannot flood the log.
    if (this.#dropLogged++ % 1000 === 0) {
      this.#log.warn({ key: this.key, client: `${rinfo.address}:${rinfo.port}`, maxSessions: cap, dropped: this.stats.drops }, 'udp session limit reached; datagram from a new client dropped');
    }
  }

  #open(key: string, rinfo: dgram.RemoteInfo, target: Target): Session {
    const sock = dgram.createSocket('udp4');
    const s: Session = { key, address: rinfo.address, port: rinfo.port, target, sock, lastActive: this.#clock.now() };
    sock.on('message', (reply, from) => {
      // Unconnected socket (sends are not queued while connecting): accept replies from the endpoint only.
      if (from.port !== target.port || from.address !== target.ip) return;
      s.lastActive = this.#clock.now();
      this.stats.bytesOut += reply.length;
      this.#server?.send(reply, s.port, s.address);
    });
    sock.on('error', () => {
      this.stats.connectFailures++;
      this.#close(s);
    });
    this.#sessions.set(key, s);
    this.stats.connectionsTotal++;
    this.stats.active = this.#sessions.size;
    this.#scheduleSweep();
    return s;
  }

  #close(s: Session): void {
    if (this.#sessions.get(s.key) !== s) return;
    this.#sessions.delete(s.key);
    this.stats.active = this.#sessions.size;
    try { s.sock.close(); } catch { /* already closed */ }
  }

  #scheduleSweep(): void {
    if (this.#sweep || this.#idleMs <= 0) return;
    this.#sweep = this.#clock.setTimeout(() => {
      this.#sweep = null;
      const now = this.#clock.now();
      for (const s of [...this.#sessions.values()]) {
        if (now - s.lastActive >= this.#idleMs) { this.stats.idleTimeouts++; this.#close(s); }
      }
      if (this.#sessions.size > 0) this.#scheduleSweep();
    }, Math.max(10, Math.floor(this.#idleMs / 2)));
  }

  /** New endpoints for new sessions; with closeRemovedEndpointSessions, sessions to endpoints that left the slice are closed. */
  setEndpoints(endpoints: readonly EndpointInfo[]): void {
    this.balancer.update(endpoints);
    if (!this.#opts.closeRemovedEndpointSessions) return;
    const present = new Set(endpoints.map((e) => `${e.ip}:${e.port}`));
    for (const s of [...this.#sessions.values()]) {
      if (!present.has(s.target.key)) { this.stats.endpointRemovalCloses++; this.#close(s); }
    }
  }

  async stop(): Promise<void> {
    this.#sweep?.cancel();
    this.#sweep = null;
    for (const s of [...this.#sessions.values()]) this.#close(s);
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
