// Port forwarding over SPDY/3.1 (pkg/kubelet/cri/streaming/portforward/httpstream.go): one upgraded
// connection carries many forwarded connections; for each the client creates an error stream and a
// data stream with the same `port` and `requestid` headers (older clients omit requestid: it is then
// derived from the stream id). Streams with a bad port or type are reset. Once a pair is complete the
// data stream is connected to localhost:port inside the pod's network namespace; the target's EOF
// becomes the data stream's FIN, the client's FIN half-closes the target. A failure to connect is
// written as text to the error stream ("error forwarding port …"), which makes kubectl report it.
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../lib/log.js';
import type { ContainerStreams, PodNetworkTarget, PortDialer } from '../../../runtime/streams.js';
import { writeSpdySwitch } from './negotiate.js';
import { RstStatus } from './spdy/frames.js';
import { SpdySession } from './spdy/session.js';
import type { SpdyStream } from './spdy/stream.js';

export interface PortForwardDeps {
  streams: ContainerStreams;
  log: Logger;
  /** Pairing timeout for a data/error stream pair; default 30 s (streamCreationTimeout). */
  streamCreationTimeoutMs?: number;
  idleTimeoutMs?: number;
  track?: (close: () => void) => () => void;
}

export interface PortForwardTarget extends PodNetworkTarget {
  pod: string;
  podUid: string;
}

interface Pair {
  port: number;
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** Parses the port header as upstream does (uint16, > 0). */
export function parsePort(value: string | undefined): number | string {
  if (value === undefined || value === '') return 'port header must be specified';
  if (!/^\d+$/.test(value) || Number(value) > 0xffff) return `unable to parse '${value}' as a port`;
  const port = Number(value);
  if (port < 1) return `port '${port}' must be greater than 0`;
  return port;
}

/** protocol undefined: SPDY tunnelled in a WebSocket (no HTTP 101 inside the tunnel). */
export async function servePortForwardSpdy(socket: Duplex, head: Buffer, protocol: string | undefined, target: PortForwardTarget, deps: PortForwardDeps): Promise<void> {
  const dialer = deps.streams.portDialer(target);
  const pairs = new Map<string, Pair>();
  const timeout = deps.streamCreationTimeoutMs ?? 30_000;
  const session = new SpdySession(socket, {
    log: deps.log,
    ...(deps.idleTimeoutMs !== undefined ? { idleTimeoutMs: deps.idleTimeoutMs } : {}),
    onStream: (s) => {
      const type = s.header('streamtype');
      const port = parsePort(s.header('port'));
      if (typeof port === 'string' || (type !== 'error' && type !== 'data')) {
        deps.log.debug({ stream: s.id, type, port }, 'refusing port-forward stream');
        return s.reset(RstStatus.REFUSED_STREAM);
      }
      let requestId = s.header('requestid');
      if (requestId === undefined) requestId = String(type === 'error' ? s.id : s.id - 2);
      let pair = pairs.get(requestId);
      if (!pair) {
        const id = requestId;
        pair = {
          port,
          timer: setTimeout(() => {
            const p = pairs.get(id);
            pairs.delete(id);
            p?.error?.reset();
            p?.data?.reset();
          }, timeout),
        };
        pairs.set(requestId, pair);
      }
      if (pair[type]) return s.reset(RstStatus.PROTOCOL_ERROR);
      pair[type] = s;
      s.reply();
      if (pair.error && pair.data) {
        clearTimeout(pair.timer);
        pairs.delete(requestId);
        void forward(pair.error, pair.data, pair.port, dialer, target, deps.log);
      }
    },
  });
  const untrack = deps.track?.(() => session.close());
  try {
    (socket as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
  } catch {
    // not a TCP socket
  }
  if (protocol !== undefined) writeSpdySwitch(socket, protocol);
  session.start(head);
  try {
    await session.closed;
  } finally {
    untrack?.();
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
    dialer.close();
  }
}

async function forward(errorStream: SpdyStream, data: SpdyStream, port: number, dialer: PortDialer, target: PortForwardTarget, log: Logger): Promise<void> {
  errorStream.resume(); // the client half-closes it at once
  let conn: Duplex;
  try {
    conn = await dialer.dial(port);
  } catch (err) {
    const msg = `error forwarding port ${port} to pod ${target.sandboxId}, uid ${target.podUid}: ${err instanceof Error ? err.message : String(err)}`;
    log.info({ port, pod: target.pod }, msg);
    if (!errorStream.destroyed) errorStream.end(msg);
    if (!data.destroyed) data.end();
    return;
  }
  if (data.destroyed) return void conn.destroy();
  conn.on('error', (err: NodeJS.ErrnoException) => {
    // EPIPE/ECONNRESET-type failures: reset both streams, write nothing.
    log.debug({ err, port }, 'port-forward target connection failed');
    data.reset();
    errorStream.reset();
  });
  data.once('close', () => {
    conn.destroy();
    if (!errorStream.destroyed) errorStream.end();
  });
  conn.once('close', () => {
    if (!data.destroyed && !data.writableEnded) data.end();
  });
  data.pipe(conn); // the client's FIN half-closes the target
  conn.pipe(data); // the target's EOF is the data stream's FIN
}
