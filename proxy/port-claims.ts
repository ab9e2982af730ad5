// Port claims: the userspace proxier's claimNodePort. Every NodePort (on all addresses) and every
// externalIP that is an address of this host gets a real socket bound to it, "to hold the actual port
// open, even though we use iptables to redirect it": another process cannot take a port the portals
// send elsewhere, and a clash is reported instead of silently shadowing that process. The sockets see
// no traffic (the portals redirect it first); a TCP connection that reaches one anyway is reset.
import dgram from 'node:dgram';
import net from 'node:net';
import { errorMessage } from '../lib/errors.js';
import { partLogger, type Logger } from '../lib/log.js';
import type { Protocol, ServicePortEntry } from './types.js';

export interface PortClaim {
  protocol: Protocol;
  /** The address bound: '0.0.0.0' for a NodePort, the address itself for a local externalIP. */
  ip: string;
  port: number;
  /** The service ports that need it (`ns/svc:port`). */
  owners: string[];
}

export const claimKey = (c: { protocol: Protocol; ip: string; port: number }): string => `${c.protocol.toLowerCase()}/${c.ip}:${c.port}`;

/** The claims the service ports need (pure): their NodePorts, and their externalIPs found in `localIPs`. */
export function wantedClaims(entries: Iterable<ServicePortEntry>, localIPs: readonly string[]): Map<string, PortClaim> {
  const out = new Map<string, PortClaim>();
  const add = (protocol: Protocol, ip: string, port: number, owner: string): void => {
    const key = claimKey({ protocol, ip, port });
    const have = out.get(key);
    if (have) { if (!have.owners.includes(owner)) have.owners.push(owner); return; }
    out.set(key, { protocol, ip, port, owners: [owner] });
  };
  for (const e of entries) {
    const owner = e.clusterKey ?? e.key;
    if (e.nodePort) add(e.protocol, '0.0.0.0', e.nodePort, owner);
    for (const ip of e.externalIPs) if (localIPs.includes(ip)) add(e.protocol, ip, e.port, owner);
  }
  // A port held on every address already holds it on each one.
  for (const [key, c] of out) {
    const all = c.ip === '0.0.0.0' ? undefined : out.get(claimKey({ ...c, ip: '0.0.0.0' }));
    if (!all) continue;
    for (const o of c.owners) if (!all.owners.includes(o)) all.owners.push(o);
    out.delete(key);
  }
  return out;
}

type Held = { close(): Promise<void> };

async function hold(c: PortClaim): Promise<Held> {
  if (c.protocol === 'TCP') {
    const server = net.createServer((s) => s.resetAndDestroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: c.port, host: c.ip, exclusive: true }, () => { server.off('error', reject); resolve(); });
    });
    server.on('error', () => undefined);
    return { close: () => new Promise<void>((r) => server.close(() => r())) };
  }
  const sock = dgram.createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ port: c.port, address: c.ip, exclusive: true }, () => { sock.off('error', reject); resolve(); });
  });
  sock.on('error', () => undefined);
  sock.on('message', () => undefined);
  return { close: () => new Promise<void>((r) => sock.close(() => r())) };
}

export class PortClaims {
  readonly #log: Logger;
  readonly #held = new Map<string, Held>();
  /** Claims that could not be bound at the last sync, with why. */
  readonly #failed = new Map<string, string>();

  constructor(opts: { log?: Logger } = {}) {
    this.#log = partLogger(opts.log, 'port-claims');
  }

  /** Binds what is wanted and not held, releases what is no longer wanted. A claim that fails is logged and retried at the next sync. */
  async sync(wanted: ReadonlyMap<string, PortClaim>): Promise<void> {
    for (const [key, socket] of this.#held) {
      if (wanted.has(key)) continue;
      this.#held.delete(key);
      await socket.close();
      this.#log.info({ port: key }, 'released port claim');
    }
    for (const key of this.#failed.keys()) if (!wanted.has(key)) this.#failed.delete(key);
    for (const [key, claim] of wanted) {
      if (this.#held.has(key)) continue;
      try {
        this.#held.set(key, await hold(claim));
        this.#failed.delete(key);
        this.#log.info({ port: key, services: claim.owners }, 'claimed port');
      } catch (err) {
        const why = errorMessage(err);
        // As upstream ("can't open port, skipping it"): the portals stay; this port's owner is told at every sync.
        this.#log.error({ port: key, services: claim.owners, err }, 'cannot claim port; service traffic to it is still redirected');
        this.#failed.set(key, why);
      }
    }
  }

  /** Held claims, as `tcp/0.0.0.0:30080`. */
  held(): string[] {
    return [...this.#held.keys()].sort();
  }

  /** Claims that could not be bound at the last sync → the error. */
  failed(): ReadonlyMap<string, string> {
    return this.#failed;
  }

  async stop(): Promise<void> {
    const all = [...this.#held.values()];
    this.#held.clear();
    this.#failed.clear();
    await Promise.all(all.map((h) => h.close()));
  }
}
