// WebSocket streaming for direct clients (apimachinery wsstream/conn.go, kubelet
// cri/streaming/remotecommand/websocket.go and portforward/websocket.go, apiserver streamtunnel.go):
// - exec/attach: v5.channel.k8s.io, v4.channel.k8s.io (binary, byte 0 = channel: 0 stdin, 1 stdout,
//   2 stderr, 3 error, 4 resize), v4.base64.channel.k8s.io / base64.channel.k8s.io (text, '0'+channel
//   then base64), channel.k8s.io; v5 adds the CLOSE signal [255, channel] (stdin EOF). The status goes
//   to channel 3 (v4+: Status JSON; older: the message text), then the socket closes.
// - port forward: SPDY/3.1+portforward.k8s.io carries SPDY frames in binary messages (the tunnel
//   kubectl uses); v4.channel.k8s.io/channel.k8s.io forward the ?port= list, channel 2i data and 2i+1
//   error, the first message on each the port as uint16 little-endian.
import type { IncomingMessage } from 'node:http';
import { PassThrough, Writable, type Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/log.js';
import type { ContainerStreams } from '../../../runtime/streams.js';
import { bridge, type ClientIO } from './bridge.js';
import { markSwitched, writeHttpError } from './negotiate.js';
import { parsePortsQuery } from './paths.js';
import { servePortForwardSpdy, type PortForwardTarget } from './portforward.js';
import type { CommandRequest } from './remotecommand.js';
import { internalErrorStatus, type Status } from './status.js';

export const COMMAND_WS_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io'];
export const TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
/**
 * The ws package accepts only RFC 6455 tokens as subprotocols and '/' is not one, but Go clients send
 * the tunnel protocol as is: the request header carries this alias through ws, and the response
 * header is written back with the real name.
 */
const TUNNEL_ALIAS = 'spdy-3.1-portforward.k8s.io.tunnel';
export const PORTFORWARD_WS_PROTOCOLS = [TUNNEL_PROTOCOL, 'v4.channel.k8s.io', 'channel.k8s.io', 'v4.base64.channel.k8s.io', 'base64.channel.k8s.io'];

const CH = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;
const CLOSE_SIGNAL = 255;

export type WsTarget = { kind: 'command'; request: CommandRequest } | { kind: 'portForward'; target: PortForwardTarget; url: URL };

export interface WsDeps {
  streams: ContainerStreams;
  log: Logger;
  streamCreationTimeoutMs?: number;
  idleTimeoutMs?: number;
  track?: (close: () => void) => () => void;
}

function pickProtocol(offered: Set<string>, supported: string[]): string | false {
  // wsstream prefers the server's order among what the client offers.
  return supported.find((p) => offered.has(p)) ?? false;
}

export function serveWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, target: WsTarget, deps: WsDeps): Promise<void> {
  const supported = target.kind === 'command' ? COMMAND_WS_PROTOCOLS : PORTFORWARD_WS_PROTOCOLS;
  const offeredList = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const offered = new Set(offeredList);
  if (offered.has(TUNNEL_PROTOCOL)) {
    req.headers['sec-websocket-protocol'] = offeredList.map((p) => (p === TUNNEL_PROTOCOL ? TUNNEL_ALIAS : p)).join(', ');
  }
  if (offered.size > 0 && !pickProtocol(offered, supported)) {
    writeHttpError(socket, 400, `unable to negotiate a subprotocol: client offers [${[...offered].join(', ')}], server accepts [${supported.join(', ')}]`);
    return Promise.resolve();
  }
  const aliased = supported.map((p) => (p === TUNNEL_PROTOCOL ? TUNNEL_ALIAS : p));
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024, handleProtocols: (p) => pickProtocol(p, aliased) });
  wss.on('headers', (headers: string[]) => {
    for (let i = 0; i < headers.length; i++) headers[i] = headers[i]!.replace(`Sec-WebSocket-Protocol: ${TUNNEL_ALIAS}`, `Sec-WebSocket-Protocol: ${TUNNEL_PROTOCOL}`);
  });
  markSwitched(socket);
  return new Promise<void>((resolve) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const protocol = ws.protocol === TUNNEL_ALIAS ? TUNNEL_PROTOCOL : ws.protocol || 'channel.k8s.io';
      const untrack = deps.track?.(() => ws.close(1001));
      ws.once('close', () => {
        untrack?.();
        wss.close();
      });
      const run = target.kind === 'command' ? serveCommandWs(ws, protocol, target.request, deps) : servePortForwardWs(ws, protocol, target, deps);
      run
        .catch((err: unknown) => deps.log.info({ err }, 'websocket session failed'))
        .finally(() => {
          if (ws.readyState === ws.OPEN) ws.close(1000);
          resolve();
        });
    });
  });
}

function isBase64(protocol: string): boolean {
  return protocol.includes('base64');
}

/** Sends data on a channel; the callback fires once the socket took it (backpressure). */
function sendChannel(ws: WebSocket, protocol: string, channel: number, data: Buffer, cb?: (err?: Error) => void): void {
  if (ws.readyState !== ws.OPEN) return cb?.(new DockerletError(ErrorCodes.STREAM, 'websocket closed'));
  if (isBase64(protocol)) ws.send(String.fromCharCode(48 + channel) + data.toString('base64'), cb);
  else ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, cb);
}

function channelWriter(ws: WebSocket, protocol: string, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      sendChannel(ws, protocol, channel, chunk, (err) => cb(err ?? null));
    },
  });
}

/** Decodes one client message into [channel, payload]. */
function decodeMessage(protocol: string, data: Buffer, isBinary: boolean): [number, Buffer] | undefined {
  if (isBase64(protocol) || !isBinary) {
    const text = data.toString('utf8');
    if (text.length === 0) return undefined;
    const ch = text.charCodeAt(0) - 48;
    return [ch, Buffer.from(text.slice(1), 'base64')];
  }
  if (data.length === 0) return undefined;
  return [data[0]!, data.subarray(1)];
}

async function serveCommandWs(ws: WebSocket, protocol: string, request: CommandRequest, deps: WsDeps): Promise<void> {
  const v5 = protocol === 'v5.channel.k8s.io';
  const v4 = v5 || protocol.startsWith('v4.');
  const gone = new Promise<void>((r) => ws.once('close', () => r()));
  const stdin = request.opts.stdin ? new PassThrough() : undefined;
  const resize = request.opts.tty ? new PassThrough() : undefined;
  ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    const data = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    const msg = decodeMessage(protocol, data, isBinary);
    if (!msg) return;
    const [ch, payload] = msg;
    if (v5 && ch === CLOSE_SIGNAL) {
      if (payload[0] === CH.stdin) stdin?.end();
      return;
    }
    if (ch === CH.stdin && stdin && !stdin.writableEnded) stdin.write(payload);
    else if (ch === CH.resize && resize) resize.write(payload);
  });
  ws.once('close', () => {
    stdin?.end();
    resize?.end();
  });
  // Tell the client the session is open: an empty message on the lowest writable channel.
  sendChannel(ws, protocol, request.opts.stdout ? CH.stdout : request.opts.stderr ? CH.stderr : CH.error, Buffer.alloc(0));
  let status: Status | undefined;
  try {
    const rt = request.kind === 'exec' ? await deps.streams.exec(request.containerId, request.cmd, request.opts) : await deps.streams.attach(request.containerId, request.opts);
    const io: ClientIO = {};
    if (stdin) io.stdin = stdin;
    if (request.opts.stdout) io.stdout = channelWriter(ws, protocol, CH.stdout);
    if (request.opts.stderr) io.stderr = channelWriter(ws, protocol, CH.stderr);
    if (resize) io.resize = resize;
    status = await bridge(rt, io, { clientGone: gone, log: deps.log, cmd: request.cmd });
  } catch (err) {
    const what = request.kind === 'exec' ? 'error executing command in container' : 'error attaching to container';
    status = internalErrorStatus(`${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!status) return;
  const body = v4 ? JSON.stringify(status) : status.status === 'Success' ? '' : (status.message ?? '');
  if (body) await new Promise<void>((r) => sendChannel(ws, protocol, CH.error, Buffer.from(body), () => r()));
}

async function servePortForwardWs(ws: WebSocket, protocol: string, t: Extract<WsTarget, { kind: 'portForward' }>, deps: WsDeps): Promise<void> {
  if (protocol === TUNNEL_PROTOCOL) {
    const duplex = createWebSocketStream(ws);
    duplex.on('error', (err) => deps.log.debug({ err }, 'tunnel stream error'));
    return servePortForwardSpdy(duplex, Buffer.alloc(0), undefined, t.target, deps);
  }
  const ports = parsePortsQuery(t.url.searchParams);
  if (typeof ports === 'string') {
    ws.close(1008, ports.slice(0, 120));
    return;
  }
  const dialer = deps.streams.portDialer(t.target);
  const conns = new Map<number, Duplex>();
  // Data the client sends before its port's connection is up waits here.
  const early = new Map<number, Buffer[]>();
  const gone = new Promise<void>((r) => ws.once('close', () => r()));
  ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    const data = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    const msg = decodeMessage(protocol, data, isBinary);
    if (!msg || msg[0] % 2 !== 0 || msg[0] / 2 >= ports.length) return;
    const i = msg[0] / 2;
    const conn = conns.get(i);
    if (conn) conn.write(msg[1]);
    else (early.get(i) ?? early.set(i, []).get(i)!).push(msg[1]);
  });
  const port16 = (p: number) => Buffer.from([p & 0xff, p >> 8]);
  await Promise.all(
    ports.map(async (port, i) => {
      sendChannel(ws, protocol, 2 * i, port16(port));
      sendChannel(ws, protocol, 2 * i + 1, port16(port));
      try {
        const conn = await dialer.dial(port);
        conns.set(i, conn);
        for (const b of early.get(i) ?? []) conn.write(b);
        early.delete(i);
        conn.on('data', (c: Buffer) => {
          if (ws.bufferedAmount > 4 * 1024 * 1024) conn.pause();
          sendChannel(ws, protocol, 2 * i, c, () => conn.resume());
        });
        await new Promise<void>((r) => {
          conn.once('close', () => r());
          conn.once('error', () => r());
          void gone.then(() => conn.destroy());
        });
      } catch (err) {
        const msg = `error forwarding port ${port} to pod ${t.target.sandboxId}, uid ${t.target.podUid}: ${err instanceof Error ? err.message : String(err)}`;
        sendChannel(ws, protocol, 2 * i + 1, Buffer.from(msg));
      }
    }),
  );
  dialer.close();
}
