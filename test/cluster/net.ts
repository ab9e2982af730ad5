// Small network helpers for the control-plane harness: free ports, the host's default-route address,
// a TLS client-cert HTTP request, and a bounded poll loop.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { delay } from '../../lib/lifecycle.js';

/**
 * Picks a free TCP port for a server a test starts later. It comes from below the kernel's ephemeral
 * range (net.ipv4.ip_local_port_range): a port from that range, once released, can be taken as the
 * local port of any outgoing connection on this host (the apiserver, etcd and the agent open many)
 * before the server binds it, which failed CI with EADDRINUSE.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const low = 20_000;
  const high = ephemeralLow() - 1;
  for (let attempt = 0; attempt < 64 && high > low; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (await canListen(host, port)) return port;
  }
  return listenOnce(host, 0);
}

/** The first port of the kernel's ephemeral range (32768 when unreadable). */
function ephemeralLow(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 0 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

/** Whether a TCP server could listen on host:port right now. */
export async function canListen(host: string, port: number): Promise<boolean> {
  try {
    return (await listenOnce(host, port)) === port;
  } catch {
    return false;
  }
}

/** Binds host:port (0 = any), closes again, and returns the bound port. */
function listenOnce(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port, exclusive: true }, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (got > 0 ? resolve(got) : reject(new Error('no port assigned'))));
    });
  });
}

/** The IPv4 address of the interface that carries the default route (from /proc/net/route). */
export function defaultRouteIPv4(): string {
  let iface: string | undefined;
  try {
    const rows = readFileSync('/proc/net/route', 'utf8').trim().split('\n').slice(1);
    for (const row of rows) {
      const [name, dest, , flags, , , , mask] = row.trim().split(/\s+/);
      if (dest === '00000000' && mask === '00000000' && (Number.parseInt(flags ?? '0', 16) & 1) === 1) {
        iface = name;
        break;
      }
    }
  } catch {
    /* no procfs: fall through */
  }
  const ifs = networkInterfaces();
  const pick = (name: string | undefined) => (name ? ifs[name]?.find((a) => a.family === 'IPv4' && !a.internal)?.address : undefined);
  const addr = pick(iface);
  if (addr) return addr;
  throw new DockerletError(ErrorCodes.CONTROL_PLANE, `cannot find an IPv4 address on the default-route interface (${iface ?? 'none'})`, {
    details: { iface },
  });
}

export interface TlsClient {
  ca?: string;
  cert?: string;
  key?: string;
  /** Skip server verification (only for loopback component health endpoints with self-signed certs). */
  insecure?: boolean;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** One HTTP(S) request with a bounded timeout; resolves with status and body text, never throws on HTTP status. */
export function httpCall(
  url: string,
  opts: { method?: string; body?: unknown; tls?: TlsClient; timeoutMs?: number } = {},
): Promise<HttpResult> {
  const u = new URL(url);
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const common = { method: opts.method ?? 'GET', headers, timeout: opts.timeoutMs ?? 5_000 };
    const req =
      u.protocol === 'https:'
        ? httpsRequest(u, {
            ...common,
            ca: opts.tls?.ca,
            cert: opts.tls?.cert,
            key: opts.tls?.key,
            rejectUnauthorized: !opts.tls?.insecure,
            agent: false,
          })
        : httpRequest(u, { ...common, agent: false });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${common.timeout} ms: ${url}`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.end(payload);
  });
}

/**
 * Polls check() every intervalMs until it returns true, the deadline passes or the signal aborts.
 * abortIf() is consulted each round and may return a reason to give up early (e.g. a process died).
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { deadline: number; intervalMs?: number; signal?: AbortSignal; abortIf?: () => string | undefined },
): Promise<void> {
  let last: string;
  for (let round = 0; ; round++) {
    if (opts.signal?.aborted) throw new DockerletError(ErrorCodes.CONTROL_PLANE, `aborted while waiting for ${what}`);
    const reason = opts.abortIf?.();
    if (reason) throw new DockerletError(ErrorCodes.CONTROL_PLANE, `${reason} while waiting for ${what}`);
    try {
      if (await check()) return;
      last = '';
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= opts.deadline) {
      throw new DockerletError(ErrorCodes.CONTROL_PLANE, `timed out waiting for ${what}${last ? ` (last error: ${last})` : ''}`, {
        details: { rounds: round + 1 },
      });
    }
    await delay(opts.intervalMs ?? 250, opts.signal);
  }
}

/** Polls fn every intervalMs until it yields a value (not undefined) or timeoutMs passes; errors count as "not yet". */
export async function pollValue<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await delay(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
