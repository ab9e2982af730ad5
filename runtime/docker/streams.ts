// ContainerStreams on the Docker Engine API, as dockershim's streaming runtime did
// (pkg/kubelet/dockershim/exec.go NativeExecHandler, docker_streaming.go): exec create + start with a
// hijacked connection, attach with a hijacked connection, stdout/stderr demultiplexed from Docker's
// 8-byte frame headers when there is no TTY, stdin EOF as a write half-close, resize through the
// exec/container resize endpoints, the exit code from exec inspect. Port-forward dials into the pod's
// network namespace (dockershim: nsenter -t <sandbox pid> -n socat … TCP4:localhost:<port>); here one
// helper per port-forward session runs `nsenter -t <pid> -n node`, connects there and hands each
// connected socket back over Node's IPC channel, so the data path is a plain socket in this process.
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type Dockerode from 'dockerode';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { ContainerStreams, PodNetworkTarget, PortDialer, StdioSession, StreamOptions, TerminalSize } from '../streams.js';
import { dockerMessage, isNotFound } from './errors.js';

export class DockerContainerStreams implements ContainerStreams {
  private readonly docker: Dockerode;

  constructor(docker: Dockerode) {
    this.docker = docker;
  }

  async exec(containerId: string, cmd: string[], opts: StreamOptions): Promise<StdioSession> {
    const container = this.docker.getContainer(containerId);
    const exec = await container
      .exec({ Cmd: cmd, AttachStdin: opts.stdin, AttachStdout: opts.stdout, AttachStderr: opts.stderr && !opts.tty, Tty: opts.tty })
      .catch(failed('exec', containerId));
    const socket = (await exec.start({ hijack: true, stdin: opts.stdin, Tty: opts.tty }).catch(failed('exec', containerId))) as Duplex;
    let aborted = false;
    const session = wire(socket, opts, {
      resize: (s) => withRetries(() => exec.resize({ h: s.height, w: s.width })),
      finish: async () => ({ exitCode: await exitCodeOf(exec) }),
    });
    return {
      ...session,
      abort: () => {
        if (aborted) return;
        aborted = true;
        socket.destroy();
        void killIfRunning(exec);
      },
    };
  }

  async attach(containerId: string, opts: StreamOptions): Promise<StdioSession> {
    const container = this.docker.getContainer(containerId);
    const info = await container.inspect().catch(failed('attach', containerId));
    const tty = Boolean(info.Config.Tty);
    const o = { ...opts, tty };
    const socket = (await container
      .attach({ stream: true, hijack: true, stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr, logs: false })
      .catch(failed('attach', containerId))) as Duplex;
    const session = wire(socket, o, {
      resize: (s) => withRetries(() => container.resize({ h: s.height, w: s.width })),
      finish: async () => ({}),
    });
    return { ...session, abort: () => socket.destroy() };
  }

  portDialer(target: PodNetworkTarget): PortDialer {
    return new NetnsPortDialer(target);
  }
}

interface Hooks {
  resize(size: TerminalSize): Promise<void>;
  finish(): Promise<{ exitCode?: number }>;
}

/** Splits the hijacked connection into the session's streams. */
function wire(socket: Duplex, opts: StreamOptions, hooks: Hooks): Omit<StdioSession, 'abort'> {
  const stdout = opts.stdout ? new PassThrough() : undefined;
  const stderr = opts.stderr && !opts.tty ? new PassThrough() : undefined;
  const ended = new Promise<void>((resolve) => {
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      stdout?.end();
      stderr?.end();
      resolve();
    };
    socket.once('end', done);
    socket.once('close', done);
    socket.once('error', done);
  });
  if (opts.tty) {
    if (stdout) pipeWithBackpressure(socket, stdout);
    else socket.resume();
  } else {
    demux(socket, stdout, stderr);
  }
  let stdin: PassThrough | undefined;
  if (opts.stdin) {
    stdin = new PassThrough();
    stdin.pipe(socket, { end: false });
    // EOF: Docker reads a write half-close as the end of stdin (CloseWrite in the docker CLI).
    stdin.once('end', () => {
      if (!socket.destroyed) socket.end();
    });
  }
  const done = ended.then(() => hooks.finish());
  done.catch(() => {});
  return {
    ...(stdin ? { stdin } : {}),
    ...(stdout ? { stdout } : {}),
    ...(stderr ? { stderr } : {}),
    resize: hooks.resize,
    done,
  };
}

function pipeWithBackpressure(src: Readable, dst: PassThrough): void {
  src.on('data', (c: Buffer) => {
    if (!dst.write(c)) {
      src.pause();
      dst.once('drain', () => src.resume());
    }
  });
}

/**
 * Docker's multiplexed stream: [stream(1 stdout, 2 stderr), 0, 0, 0, size:u32be] then size bytes.
 * Honours each output's backpressure (docker-modem's demuxStream does not, so a reader that never
 * reads would buffer without bound).
 */
export function demux(src: Readable, stdout: PassThrough | undefined, stderr: PassThrough | undefined): void {
  let pending = Buffer.alloc(0);
  let kind = 0;
  let left = 0;
  src.on('data', (chunk: Buffer) => {
    let data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    pending = Buffer.alloc(0);
    let blocked: PassThrough | undefined;
    while (data.length > 0) {
      if (left === 0) {
        if (data.length < 8) {
          pending = Buffer.from(data);
          break;
        }
        kind = data[0]!;
        left = data.readUInt32BE(4);
        data = data.subarray(8);
        continue;
      }
      const n = Math.min(left, data.length);
      const piece = data.subarray(0, n);
      data = data.subarray(n);
      left -= n;
      const out = kind === 2 ? stderr : kind === 1 || kind === 0 ? stdout : undefined;
      if (out && !out.write(piece)) blocked = out;
    }
    if (blocked) {
      src.pause();
      blocked.once('drain', () => src.resume());
    }
  });
}

/**
 * Docker answers the exec start before the process runs, and a resize until then fails ("cannot
 * resize a stopped container"): the first size would be lost. Retry briefly, as the docker CLI's
 * initTtySize does (10 attempts, growing pauses).
 */
async function withRetries(fn: () => Promise<unknown>): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await fn();
      return;
    } catch (err) {
      if (i >= 10) throw err;
      await new Promise((r) => setTimeout(r, 10 * i));
    }
  }
}

async function exitCodeOf(exec: Dockerode.Exec): Promise<number> {
  // Docker may still report Running for a moment after the stream closed.
  for (let i = 0; i < 500; i++) {
    const info = await exec.inspect();
    if (!info.Running && typeof info.ExitCode === 'number') return info.ExitCode;
    await new Promise((r) => setTimeout(r, i < 20 ? 5 : 20));
  }
  throw new DockerletError(ErrorCodes.RUNTIME, 'exec did not report an exit code', { details: { exec: exec.id } });
}

async function killIfRunning(exec: Dockerode.Exec): Promise<void> {
  // Docker may report the exec running before it records its pid (Pid 0): ask again for a while.
  for (let i = 0; i < 50; i++) {
    try {
      const info = (await exec.inspect()) as Dockerode.ExecInspectInfo & { Pid?: number };
      if (!info.Running) return;
      if (typeof info.Pid === 'number' && info.Pid > 1) {
        process.kill(info.Pid, 'SIGKILL');
        return;
      }
    } catch {
      return; // gone with its container
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function failed(op: string, id: string): (err: unknown) => never {
  return (err) => {
    const code = isNotFound(err) ? ErrorCodes.NOT_FOUND : ErrorCodes.RUNTIME;
    throw new DockerletError(code, `docker ${op} failed: ${dockerMessage(err)}`, { cause: err, details: { op, id } });
  };
}

/**
 * The helper run inside the pod's network namespace (CommonJS, node -e): for each {id, port} it
 * connects to 127.0.0.1 (then ::1) and sends the connected socket back with the reply. The socket is
 * paused before it connects so that no byte is read here. It exits when the parent disconnects.
 */
const HELPER = `
const net = require('net');
function tryConnect(host, port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.pause();
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}
process.on('message', async (m) => {
  try {
    let s;
    try { s = await tryConnect('127.0.0.1', m.port); }
    catch (e4) {
      try { s = await tryConnect('::1', m.port); }
      catch (e6) { return process.send({ id: m.id, error: 'IPv4: ' + e4.message + ' IPv6 ' + e6.message }); }
    }
    process.send({ id: m.id }, s);
  } catch (e) { try { process.send({ id: m.id, error: String(e && e.message || e) }); } catch {} }
});
process.on('disconnect', () => process.exit(0));
`;

/** Dials localhost:port inside a pod's network namespace for one port-forward session. */
export class NetnsPortDialer implements PortDialer {
  private readonly target: PodNetworkTarget;
  private helper: ChildProcess | undefined;
  private helperError = '';
  private readonly pending = new Map<number, { resolve: (s: Socket) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closed = false;

  constructor(target: PodNetworkTarget) {
    this.target = target;
  }

  dial(port: number): Promise<Duplex> {
    if (this.closed) return Promise.reject(new DockerletError(ErrorCodes.PORT_FORWARD, 'port forwarding session closed'));
    const pid = this.target.pid;
    if (pid === undefined) return this.dialIp(port);
    if (sameNetns(pid)) return dialTcp('127.0.0.1', port);
    const helper = this.startHelper(pid);
    const id = this.nextId++;
    return new Promise<Duplex>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      helper.send({ id, port }, (err) => {
        if (!err) return;
        this.pending.delete(id);
        reject(err);
      });
    }).catch((err: Error) => {
      throw new DockerletError(ErrorCodes.RUNTIME, `failed to connect to localhost:${port} inside namespace "${this.target.sandboxId}", ${err.message}`, { cause: err });
    });
  }

  close(): void {
    this.closed = true;
    const h = this.helper;
    this.helper = undefined;
    if (h) {
      if (h.connected) h.disconnect();
      h.kill('SIGKILL');
    }
    this.failAll(new DockerletError(ErrorCodes.PORT_FORWARD, 'port forwarding session closed'));
  }

  private dialIp(port: number): Promise<Duplex> {
    const ip = this.target.ip;
    if (!ip) return Promise.reject(new DockerletError(ErrorCodes.RUNTIME, `pod sandbox ${this.target.sandboxId} has no network namespace or IP`));
    return dialTcp(ip, port);
  }

  private startHelper(pid: number): ChildProcess {
    if (this.helper) return this.helper;
    const h = spawn('nsenter', ['-t', String(pid), '-n', '--', process.execPath, '-e', HELPER], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.helper = h;
    h.stderr?.on('data', (c: Buffer) => {
      if (this.helperError.length < 4096) this.helperError += c.toString('utf8');
    });
    h.on('message', (m: { id: number; error?: string }, handle?: unknown) => {
      const p = this.pending.get(m.id);
      if (!p) return void (handle as Socket | undefined)?.destroy();
      this.pending.delete(m.id);
      if (m.error || !handle) p.reject(new DockerletError(ErrorCodes.PORT_FORWARD, m.error ?? 'no socket'));
      else p.resolve(handle as Socket);
    });
    h.on('error', (err) => this.failAll(err));
    h.on('exit', (code) => {
      if (this.helper === h) this.helper = undefined;
      this.failAll(new DockerletError(ErrorCodes.PORT_FORWARD, this.helperError.trim() || `namespace helper exited with code ${code}`, { details: { exitCode: code } }));
    });
    return h;
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }
}

function sameNetns(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`) === readlinkSync('/proc/self/ns/net');
  } catch {
    return false;
  }
}

function dialTcp(host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}
