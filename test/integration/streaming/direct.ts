// Direct clients of the kubelet API server for the streaming tests: a TLS connection as the apiserver
// makes it (its kube-apiserver-kubelet-client certificate), an HTTP/1.1 upgrade request, and the
// SPDY test client on the upgraded socket; plus raw requests for the refusal cases.
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { SpdyTestClient } from '../../unit/streaming/spdy-client.js';

export interface Credentials {
  cert?: string;
  key?: string;
}

export async function apiserverCredentials(cpDir: string): Promise<Credentials> {
  const [cert, key] = await Promise.all([
    readFile(join(cpDir, 'pki', 'apiserver-kubelet-client.crt'), 'utf8'),
    readFile(join(cpDir, 'pki', 'apiserver-kubelet-client.key'), 'utf8'),
  ]);
  return { cert, key };
}

export interface RawResponse {
  status: number;
  head: string;
  /** Bytes after the response head (the first SPDY frames, or the error body). */
  rest: Buffer;
  socket: TLSSocket;
}

/** Sends a request and reads the response head (for 101, the socket stays open). */
export function rawRequest(port: number, creds: Credentials, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...creds });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no response head'));
    }, 15_000);
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      clearTimeout(timer);
      const head = buf.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      socket.pause();
      resolve({ status, head, rest: buf.subarray(end + 4), socket });
    };
    socket.on('data', onData);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('secureConnect', () => socket.write(request));
  });
}

export function upgradeRequest(path: string, protocols: string[], extra: string[] = []): string {
  return [
    `POST ${path} HTTP/1.1`, 'Host: kubelet', 'Connection: Upgrade', 'Upgrade: SPDY/3.1',
    ...protocols.map((p) => `X-Stream-Protocol-Version: ${p}`), ...extra, '', '',
  ].join('\r\n');
}

/** Opens a SPDY session to path; throws unless the server switches protocols. */
export async function spdyConnect(port: number, creds: Credentials, path: string, protocols: string[]): Promise<{ client: SpdyTestClient; res: RawResponse }> {
  const res = await rawRequest(port, creds, upgradeRequest(path, protocols));
  if (res.status !== 101) {
    res.socket.destroy();
    throw new Error(`expected 101, got ${res.head}`);
  }
  const client = new SpdyTestClient(res.socket, res.rest);
  res.socket.resume();
  return { client, res };
}

/** Reads the rest of a non-101 response body until the server closes. */
export function readBody(res: RawResponse): Promise<string> {
  return new Promise((resolve) => {
    const chunks = [res.rest];
    res.socket.on('data', (c: Buffer) => chunks.push(c));
    res.socket.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.socket.resume();
  });
}

export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}
