// Docker log stream handling: strip the 8-byte multiplexing headers (non-tty containers) and cap
// the output at limitBytes, keeping stdout and stderr interleaved in arrival order; DockerLogs opens
// GET /containers/{id}/logs for the kubelet API's /containerLogs as the kubelet reads CRI logs
// (pkg/kubelet/kuberuntime/logs/logs.go ReadLogs: since, tail, follow until the container stops,
// timestamps in RFC3339NanoFixed, bytes limit), and closes Docker's stream when its reader goes away.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import Dockerode from 'dockerode';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { ContainerLogOptions, ContainerLogs, ContainerLogStream } from '../logs.js';
import type { LogOptions } from '../types.js';
import { isNotFound, toDockerletError } from './errors.js';

const HEADER = 8;

/**
 * A Transform that demultiplexes Docker's `[type,0,0,0,len32be]payload` frames into one byte
 * stream (when `multiplexed`), and ends after `limitBytes` bytes (when given).
 */
export class LogStream extends Transform {
  readonly #multiplexed: boolean;
  readonly #limit: number;
  #pending: Buffer = Buffer.alloc(0);
  #frameLeft = 0;
  #emitted = 0;
  #done = false;

  constructor(opts: { multiplexed: boolean; limitBytes?: number }) {
    super();
    this.#multiplexed = opts.multiplexed;
    this.#limit = opts.limitBytes && opts.limitBytes > 0 ? opts.limitBytes : Infinity;
  }

  override _transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#done) return cb();
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.#multiplexed) {
      this.#emit([buf]);
      return cb();
    }
    // One push per incoming chunk (Docker frames are often one line each): the payloads of every
    // complete frame in it are gathered first, so a reader sees few large chunks, not a write per line.
    const parts: Buffer[] = [];
    let data = this.#pending.length ? Buffer.concat([this.#pending, buf]) : buf;
    this.#pending = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.#frameLeft === 0) {
        if (data.length < HEADER) {
          this.#pending = Buffer.from(data);
          break;
        }
        this.#frameLeft = data.readUInt32BE(4);
        data = data.subarray(HEADER);
        continue;
      }
      const n = Math.min(this.#frameLeft, data.length);
      parts.push(data.subarray(0, n));
      this.#frameLeft -= n;
      data = data.subarray(n);
    }
    this.#emit(parts);
    cb();
  }

  #emit(parts: Buffer[]): void {
    if (this.#done) return;
    let buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (buf.length === 0) return;
    const room = this.#limit - this.#emitted;
    if (buf.length > room) buf = buf.subarray(0, room);
    this.#emitted += buf.length;
    this.push(buf);
    if (this.#emitted >= this.#limit) {
      this.#done = true;
      this.push(null);
    }
  }
}

/** Query parameters of GET /containers/{id}/logs for the given options. */
export function logsQuery(opts: LogOptions, nowMs: number): Record<string, string | number | boolean> {
  const q: Record<string, string | number | boolean> = {
    stdout: true,
    stderr: true,
    follow: opts.follow ?? false,
    timestamps: opts.timestamps ?? false,
    tail: opts.tailLines !== undefined && opts.tailLines >= 0 ? String(opts.tailLines) : 'all',
  };
  if (opts.sinceSeconds !== undefined && opts.sinceSeconds > 0) q.since = Math.floor(nowMs / 1000) - opts.sinceSeconds;
  return q;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** Docker's `since` (`<seconds>.<nanoseconds>`) for an RFC 3339 time or epoch milliseconds; undefined when unparseable. */
export function dockerSince(since: string | number): string | undefined {
  if (typeof since === 'number') {
    if (!Number.isFinite(since)) return undefined;
    const ms = Math.max(0, Math.floor(since));
    return `${Math.floor(ms / 1000)}.${String((ms % 1000) * 1_000_000).padStart(9, '0')}`;
  }
  const m = RFC3339.exec(since);
  if (!m) return undefined;
  const secs = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`) / 1000;
  if (!Number.isFinite(secs)) return undefined;
  return `${Math.max(0, secs)}.${(m[2] ?? '').padEnd(9, '0')}`;
}

/** Query of GET /containers/{id}/logs for resolved log options. */
export function containerLogsQuery(opts: ContainerLogOptions): Record<string, string | boolean> {
  const q: Record<string, string | boolean> = {
    stdout: opts.stream !== 'Stderr',
    stderr: opts.stream !== 'Stdout',
    follow: opts.follow ?? false,
    timestamps: opts.timestamps ?? false,
    tail: opts.tailLines !== undefined && opts.tailLines >= 0 ? String(opts.tailLines) : 'all',
  };
  const since = opts.since === undefined ? undefined : dockerSince(opts.since);
  if (since !== undefined) q.since = since;
  return q;
}

/**
 * How long after a container's start a one-shot read waits for its first output. The upstream kubelet
 * reports a container running only at the PLEG relist after its start (≤ 1 s later), so a client that
 * reads the log once it sees Running finds what the process printed first ("echo …; sleep"). This
 * agent's status is event-driven and can say Running within milliseconds, before the process has run
 * (or before Docker's json-file driver wrote the line; on a loaded host, seconds): a non-follow read of
 * a container that started less than this long ago and has no output yet waits, looking every
 * SETTLE_POLL_MS, until output appears or the container has run this long.
 */
export const FIRST_OUTPUT_SETTLE_MS = 3000;
const SETTLE_POLL_MS = 200;

export interface DockerLogsOptions {
  docker?: Dockerode;
  socketPath?: string;
  /** See FIRST_OUTPUT_SETTLE_MS (0 turns the wait off). */
  settleMs?: number;
}

/** ContainerLogs on the Docker Engine API. */
export class DockerLogs implements ContainerLogs {
  readonly #opts: DockerLogsOptions;
  #docker: Dockerode | undefined;

  constructor(opts: DockerLogsOptions = {}) {
    this.#opts = opts;
  }

  get #client(): Dockerode {
    this.#docker ??= this.#opts.docker ?? new Dockerode(this.#opts.socketPath ? { socketPath: this.#opts.socketPath } : undefined);
    return this.#docker;
  }

  /** Whether a container was created with a TTY. */
  async tty(id: string): Promise<boolean> {
    return (await this.#inspect(id)).tty;
  }

  async #inspect(id: string): Promise<{ tty: boolean; runningForMs?: number }> {
    try {
      const info = await this.#client.getContainer(id).inspect();
      const started = Date.parse(info.State?.StartedAt ?? '');
      const out: { tty: boolean; runningForMs?: number } = { tty: info.Config.Tty === true };
      if (info.State?.Running && Number.isFinite(started)) out.runningForMs = Date.now() - started;
      return out;
    } catch (err) {
      throw toDockerletError('inspect', err, { id });
    }
  }

  async open(id: string, opts: ContainerLogOptions): Promise<ContainerLogStream> {
    const { tty, runningForMs } = await this.#inspect(id);
    if (opts.tailLines === 0 && !opts.follow) return { stream: emptyStream(), tty };
    const settleMs = this.#opts.settleMs ?? FIRST_OUTPUT_SETTLE_MS;
    const young = !opts.follow && runningForMs !== undefined && runningForMs >= 0 && runningForMs < settleMs;
    const deadline = young ? Date.now() + settleMs - runningForMs : 0;
    // A young container: read its log once it has some, or once it has run settleMs.
    while (young && Date.now() < deadline && !(await this.#hasOutput(id, opts, tty))) {
      await sleep(Math.min(SETTLE_POLL_MS, deadline - Date.now()), opts.signal);
      if (opts.signal?.aborted) return { stream: emptyStream(), tty };
    }
    return { stream: await this.#openOnce(id, opts, tty), tty };
  }

  /** Whether the log (as opts select it) has at least one byte: its last line, cut to one byte. */
  async #hasOutput(id: string, opts: ContainerLogOptions, tty: boolean): Promise<boolean> {
    const { signal: _signal, ...rest } = opts;
    const stream = await this.#openOnce(id, { ...rest, follow: false, tailLines: 1, limitBytes: 1 }, tty);
    let bytes = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) bytes += chunk.length;
    return bytes > 0;
  }

  async #openOnce(id: string, opts: ContainerLogOptions, tty: boolean): Promise<Readable> {
    const res = await new Promise<Readable>((resolve, reject) => {
      this.#client.modem.dial(
        {
          path: `/containers/${encodeURIComponent(id)}/logs?`,
          method: 'GET',
          isStream: true,
          statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          options: containerLogsQuery(opts),
          ...(opts.signal ? { abortSignal: opts.signal } : {}),
        },
        (err, data) => {
          if (!err) return resolve(data as Readable);
          if (isNotFound(err)) return reject(new DockerletError(ErrorCodes.NOT_FOUND, `container ${id} not found`, { cause: err }));
          reject(toDockerletError('logs', err, { id }));
        },
      );
    });
    const out = new LogStream({ multiplexed: !tty, limitBytes: opts.limitBytes });
    // Whoever ends first ends both: Docker's stream closing (the container stopped) ends the output;
    // the output ending (limitBytes, the reader destroyed it, the signal) closes Docker's stream.
    const onAbort = () => out.destroy();
    let closed = false;
    const closeDocker = () => {
      if (closed) return;
      closed = true;
      opts.signal?.removeEventListener('abort', onAbort);
      res.unpipe(out);
      res.destroy();
    };
    out.once('end', closeDocker);
    out.once('close', closeDocker);
    res.once('error', (e: Error) => (opts.signal?.aborted ? out.destroy() : out.destroy(e)));
    res.once('close', () => { if (!out.writableEnded) out.end(); });
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    res.pipe(out);
    return out;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function emptyStream(): Readable {
  const t = new Transform();
  t.end();
  return t;
}
