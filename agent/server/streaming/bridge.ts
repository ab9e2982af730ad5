// Connects a runtime exec/attach session to a client's streams, whatever carries them (SPDY streams or
// WebSocket channels), as pkg/kubelet/cri/streaming/remotecommand's ServeExec/ServeAttach do: stdin
// copied in (the client's half-close is the process's EOF), stdout/stderr copied out and closed when
// the output ends, resize messages applied to the terminal, and the outcome as a Status (Success, the
// v4 NonZeroExitCode status, or InternalError). When the client goes away first the runtime session
// is aborted (no exec keeps running for nobody) and no status is produced.
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../../../lib/log.js';
import type { StdioSession, TerminalSize } from '../../../runtime/streams.js';
import { exitStatus, internalErrorStatus, successStatus, type Status } from './status.js';

export interface ClientIO {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  /** Concatenated JSON TerminalSize objects ({"Width":80,"Height":24}), as client-go writes them. */
  resize?: Readable;
}

export interface BridgeOptions {
  /** Resolves when the client connection is gone. */
  clientGone: Promise<void>;
  log: Logger;
  /** The command, for the non-zero exit message (exec only). */
  cmd?: string[];
}

/** Runs the session to its end; undefined when the client went away first. */
export async function bridge(rt: StdioSession, io: ClientIO, opts: BridgeOptions): Promise<Status | undefined> {
  if (io.stdin) {
    if (rt.stdin) io.stdin.pipe(rt.stdin);
    else io.stdin.resume();
  }
  const outputs = [copyOut(rt.stdout, io.stdout), copyOut(rt.stderr, io.stderr)];
  if (io.resize) readResizes(io.resize, (size) => rt.resize(size).catch((err: unknown) => opts.log.debug({ err }, 'resize failed')));
  let gone = false;
  void opts.clientGone.then(() => {
    gone = true;
    rt.abort();
  });
  let status: Status;
  try {
    const result = await Promise.race([rt.done, opts.clientGone.then(() => undefined)]);
    if (result === undefined || gone) return undefined;
    await Promise.race([Promise.all(outputs), opts.clientGone]);
    if (gone) return undefined;
    status = result.exitCode === undefined || result.exitCode === 0 ? successStatus() : exitStatus(result.exitCode, opts.cmd);
  } catch (err) {
    if (gone) return undefined;
    rt.abort();
    status = internalErrorStatus(`error executing command in container: ${err instanceof Error ? err.message : String(err)}`);
  }
  return status;
}

/** Copies a runtime output to the client's stream and resolves once it has been closed. */
function copyOut(src: Readable | undefined, dst: Writable | undefined): Promise<void> {
  if (!src) {
    dst?.end();
    return Promise.resolve();
  }
  if (!dst) {
    src.resume();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    dst.once('finish', () => resolve());
    dst.once('close', () => resolve());
    src.pipe(dst);
  });
}

/** Parses a stream of concatenated JSON objects (Go's json.Decoder over the resize stream). */
export function readResizes(src: Readable, onSize: (size: TerminalSize) => void): void {
  let buf = '';
  src.setEncoding('utf8');
  src.on('data', (chunk: string) => {
    buf += chunk;
    if (buf.length > 64 * 1024) buf = ''; // junk, not resize messages
    for (;;) {
      const start = buf.indexOf('{');
      buf = start < 0 ? '' : buf.slice(start); // bytes before an object are junk
      const end = objectEnd(buf);
      if (end < 0) break;
      const text = buf.slice(0, end + 1);
      buf = buf.slice(end + 1);
      try {
        const v = JSON.parse(text) as { Width?: unknown; Height?: unknown };
        const width = Number(v.Width);
        const height = Number(v.Height);
        if (Number.isInteger(width) && Number.isInteger(height) && width >= 0 && height >= 0 && width <= 0xffff && height <= 0xffff) {
          onSize({ width, height });
        }
      } catch {
        // not JSON: skipped, as upstream logs and continues
      }
    }
  });
}

/** The index of the brace closing the first top-level JSON object in s, or -1. */
function objectEnd(s: string): number {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let started = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      depth++;
      started = true;
    } else if (c === '}') {
      depth--;
      if (started && depth === 0) return i;
    }
  }
  return -1;
}
