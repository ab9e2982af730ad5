// HTTP/1.1 upgrade handshakes on a raw socket (Node hands Connection: Upgrade requests to the server's
// 'upgrade' event, outside fastify), as apimachinery's httpstream.Handshake and the SPDY
// ResponseUpgrader (httpstream/spdy/upgrade.go) do them: X-Stream-Protocol-Version negotiation picks
// the first client protocol the server supports; none given → 400, none matching → 403 with
// X-Accepted-Stream-Protocol-Versions; a request that is not a SPDY/3.1 upgrade → 400.
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorStatus } from './status.js';

export const HEADER_PROTOCOL_VERSION = 'X-Stream-Protocol-Version';
export const HEADER_ACCEPTED_PROTOCOL_VERSIONS = 'X-Accepted-Stream-Protocol-Versions';

/** The kubelet's remotecommand protocols, newest first (SupportedStreamingProtocols). */
export const REMOTECOMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
export const PORTFORWARD_PROTOCOLS = ['portforward.k8s.io'];

/** All values of a (possibly repeated, comma-joined) header. */
export function headerValues(req: IncomingMessage, name: string): string[] {
  const raw = req.headersDistinct[name.toLowerCase()] ?? [];
  return raw.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0);
}

export function isSpdyUpgrade(req: IncomingMessage): boolean {
  const conn = headerValues(req, 'connection').map((v) => v.toLowerCase());
  const upgrade = headerValues(req, 'upgrade').map((v) => v.toLowerCase());
  return conn.includes('upgrade') && upgrade.some((u) => u.includes('spdy/3.1'));
}

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const conn = headerValues(req, 'connection').map((v) => v.toLowerCase());
  return conn.includes('upgrade') && headerValues(req, 'upgrade').some((u) => u.toLowerCase() === 'websocket');
}

export type Negotiation = { ok: true; protocol: string } | { ok: false; status: 400 | 403; message: string; headers: Record<string, string[]> };

export function negotiate(req: IncomingMessage, server: string[]): Negotiation {
  const client = headerValues(req, HEADER_PROTOCOL_VERSION);
  if (client.length === 0) return { ok: false, status: 400, message: `unable to upgrade: ${HEADER_PROTOCOL_VERSION} is required`, headers: {} };
  const protocol = client.find((p) => server.includes(p));
  if (protocol) return { ok: true, protocol };
  return {
    ok: false,
    status: 403,
    message: `unable to upgrade: unable to negotiate protocol: client supports [${client.join(' ')}], server accepts [${server.join(' ')}]`,
    headers: { [HEADER_ACCEPTED_PROTOCOL_VERSIONS]: server },
  };
}

/** Sockets that switched protocols: an HTTP response can no longer be written on them. */
const switched = new WeakSet<Duplex>();

export function markSwitched(socket: Duplex): void {
  switched.add(socket);
}

/** Writes a complete HTTP response on an upgrade socket and closes it (drops it once switched). */
export function writeHttpError(socket: Duplex, status: number, message: string, opts: { json?: boolean; headers?: Record<string, string[]> } = {}): void {
  if (socket.destroyed) return;
  if (switched.has(socket)) return void socket.destroy();
  const json = opts.json ?? true;
  const body = json ? JSON.stringify(errorStatus(status, message)) : `${message}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    `Content-Type: ${json ? 'application/json' : 'text/plain; charset=utf-8'}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  for (const [name, values] of Object.entries(opts.headers ?? {})) for (const v of values) lines.push(`${name}: ${v}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  const t = setTimeout(() => socket.destroy(), 5000);
  t.unref();
  socket.once('close', () => clearTimeout(t));
}

/** The 101 answer to a SPDY/3.1 upgrade (httpstream/spdy/upgrade.go UpgradeResponse). */
export function writeSpdySwitch(socket: Duplex, protocol: string): void {
  markSwitched(socket);
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
      `${HEADER_PROTOCOL_VERSION}: ${protocol}\r\n\r\n`,
  );
}
