// exec and attach over SPDY/3.1 (pkg/kubelet/cri/streaming/remotecommand/httpstream.go): after the
// 101, the client creates its streams one by one (error, then stdin, stdout, stderr, resize as asked),
// each answered at once with SYN_REPLY; once all expected streams exist (or streamCreationTimeout
// passes: the connection is closed) the command runs. The outcome goes to the error stream: v4 writes
// a metav1.Status (nothing but Success or the NonZeroExitCode status), v1-v3 write the message text and
// nothing on success. Then the error stream is closed and the connection torn down once the client has
// had its chance to close it (the kubelet's conn.Close()).
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../lib/log.js';
import type { ContainerStreams, StdioSession, StreamOptions } from '../../../runtime/streams.js';
import { bridge, type ClientIO } from './bridge.js';
import { writeSpdySwitch } from './negotiate.js';
import { SpdySession } from './spdy/session.js';
import type { SpdyStream } from './spdy/stream.js';
import { internalErrorStatus, type Status } from './status.js';

export interface CommandRequest {
  kind: 'exec' | 'attach';
  containerId: string;
  /** exec only. */
  cmd: string[];
  opts: StreamOptions;
}

export interface CommandDeps {
  streams: ContainerStreams;
  log: Logger;
  /** Default 30 s (kubelet streamCreationTimeout). */
  streamCreationTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Called with the session while it runs (for tracking and shutdown). */
  track?: (close: () => void) => () => void;
}

const STREAM_TYPES = ['error', 'stdin', 'stdout', 'stderr', 'resize'] as const;
type StreamType = (typeof STREAM_TYPES)[number];

export function protocolVersion(protocol: string): number {
  const m = /^v(\d+)\.channel\.k8s\.io$/.exec(protocol);
  return m ? Number(m[1]) : 1;
}

/** Runs one exec/attach over an upgraded socket. Resolves when the connection is closed. */
export async function serveCommandSpdy(socket: Duplex, head: Buffer, protocol: string, req: CommandRequest, deps: CommandDeps): Promise<void> {
  const version = protocolVersion(protocol);
  const expected = 1 + Number(req.opts.stdin) + Number(req.opts.stdout) + Number(req.opts.stderr) + (req.opts.tty && version >= 3 ? 1 : 0);
  const got = new Map<StreamType, SpdyStream>();
  let allStreams!: () => void;
  const ready = new Promise<void>((r) => (allStreams = r));
  const session = new SpdySession(socket, {
    log: deps.log,
    ...(deps.idleTimeoutMs !== undefined ? { idleTimeoutMs: deps.idleTimeoutMs } : {}),
    onStream: (s) => {
      const type = s.header('streamtype') as StreamType | undefined;
      s.reply();
      if (!type || !STREAM_TYPES.includes(type) || got.has(type)) {
        deps.log.debug({ streamtype: type }, 'unexpected stream type');
        return;
      }
      got.set(type, s);
      if (got.size === expected) allStreams();
    },
  });
  const untrack = deps.track?.(() => session.close());
  try {
    (socket as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
  } catch {
    // not a TCP socket (tests)
  }
  writeSpdySwitch(socket, protocol);
  session.start(head);
  const gone = session.closed;
  try {
    const timeout = deps.streamCreationTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeout)));
    const first = await Promise.race([ready.then(() => 'ready' as const), timedOut, gone.then(() => 'gone' as const)]);
    clearTimeout(timer);
    if (first !== 'ready') {
      if (first === 'timeout') deps.log.info({ expected, got: [...got.keys()] }, 'timed out waiting for client to create streams');
      session.close();
      return;
    }
    const errorStream = got.get('error')!;
    errorStream.resume(); // the client half-closes it; nothing is read from it
    let rt: StdioSession;
    try {
      rt = req.kind === 'exec' ? await deps.streams.exec(req.containerId, req.cmd, req.opts) : await deps.streams.attach(req.containerId, req.opts);
    } catch (err) {
      const what = req.kind === 'exec' ? 'error executing command in container' : 'error attaching to container';
      await writeStatus(errorStream, version, internalErrorStatus(`${what}: ${err instanceof Error ? err.message : String(err)}`));
      await finish(session);
      return;
    }
    const io: ClientIO = {};
    const stdin = got.get('stdin');
    const stdout = got.get('stdout');
    const stderr = got.get('stderr');
    const resize = got.get('resize');
    if (stdin) io.stdin = stdin;
    if (stdout) io.stdout = stdout;
    if (stderr) io.stderr = stderr;
    if (resize) io.resize = resize;
    const status = await bridge(rt, io, { clientGone: gone, log: deps.log, cmd: req.cmd });
    if (!status) return;
    await writeStatus(errorStream, version, status);
    await finish(session);
  } finally {
    untrack?.();
    await gone;
  }
}

/** Writes the outcome to the error stream and closes it (v4: Status JSON; v1-v3: text, none on success). */
function writeStatus(stream: SpdyStream, version: number, status: Status): Promise<void> {
  return new Promise((resolve) => {
    const done = () => resolve();
    if (stream.destroyed) return done();
    stream.once('close', done);
    const body = version >= 4 ? JSON.stringify(status) : status.status === 'Success' ? '' : (status.message ?? '');
    if (body) stream.write(body);
    stream.end(done);
  });
}

/** Gives the client a moment to close the connection itself, then closes it. */
async function finish(session: SpdySession): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([session.closed, new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
  clearTimeout(timer);
  session.close();
}
