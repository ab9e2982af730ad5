// Direct clients of the kubelet API server for the streaming tests: a TLS connection as the apiserver
// makes it (its kube-apiserver-kubelet-client certificate), an HTTP/1.1 upgrade request, and the
// SPDY test client on the upgraded socket; plus raw requests for the refusal cases.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { connect, type TLSSocket } from 'node:tls';
import { SpdyTestClient } from '../../unit/streaming/spdy-client.js';

export interface Credentials {
  cert?: string;
  key?: string;
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

/**
 * A bare WebSocket client (binary frames, zero mask key) as a Duplex, for subprotocols the ws client
 * refuses to offer (SPDY/3.1+portforward.k8s.io contains '/'). Returns the 101 head too.
 */
export async function rawWebSocket(port: number, creds: Credentials, path: string, protocol: string): Promise<{ head: string; stream: Duplex }> {
  const key = randomBytes(16).toString('base64');
  const res = await rawRequest(port, creds, [
    `GET ${path} HTTP/1.1`, 'Host: kubelet', 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${key}`, `Sec-WebSocket-Protocol: ${protocol}`, '', '',
  ].join('\r\n'));
  if (res.status !== 101) throw new Error(`expected 101, got ${res.head}`);
  const sock = res.socket;
  let buf = res.rest;
  const stream = new Duplex({
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      const len = chunk.length;
      const head = len < 126 ? Buffer.from([0x82, 0x80 | len]) : len < 65536 ? Buffer.from([0x82, 0xfe, len >> 8, len & 0xff]) : Buffer.concat([Buffer.from([0x82, 0xff]), u64(len)]);
      sock.write(Buffer.concat([head, Buffer.alloc(4), chunk]), cb);
    },
    final(cb) {
      sock.end(Buffer.from([0x88, 0x80, 0, 0, 0, 0]), () => cb());
    },
    destroy(err, cb) {
      sock.destroy();
      cb(err);
    },
  });
  const parse = () => {
    for (;;) {
      if (buf.length < 2) return;
      const op = buf[0]! & 0x0f;
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const payload = buf.subarray(off, off + len);
      buf = buf.subarray(off + len);
      if (op === 0x8) return void stream.push(null);
      if ((op === 0x2 || op === 0x0) && !stream.push(payload)) sock.pause();
    }
  };
  sock.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    parse();
  });
  sock.once('close', () => stream.push(null));
  parse();
  sock.resume();
  return { head: res.head, stream };
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
