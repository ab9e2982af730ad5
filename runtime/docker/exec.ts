// Run a command inside a running container (docker exec), as the kubelet's exec probes need: stdout
// and stderr demultiplexed into one buffer (at most 10 KiB kept), bounded by a timeout.
import type Dockerode from 'dockerode';
import type { Duplex } from 'node:stream';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { dockerMessage, isNotFound } from './errors.js';
import { LogStream } from './logs.js';

/** Upstream's exec-probe output cap (pkg/probe/exec: maxReadLength = 10 KiB). */
export const EXEC_OUTPUT_LIMIT = 10 * 1024;

export interface ExecResult {
  exitCode: number;
  output: string;
}

/**
 * Runs cmd in container id and returns its exit code and combined output. When the command does not
 * finish within timeoutMs the stream is dropped and a DockerletError EXEC_TIMEOUT is thrown (Docker
 * cannot kill an exec'd process; it keeps running inside the container, as with upstream dockershim).
 */
export async function execInContainer(docker: Dockerode, id: string, cmd: string[], opts: { timeoutMs: number }): Promise<ExecResult> {
  const deadline = Date.now() + Math.max(1, opts.timeoutMs);
  const timedOut = () => new DockerletError(ErrorCodes.EXEC_TIMEOUT, `command ${JSON.stringify(cmd.join(' '))} timed out`, { details: { id, timeoutMs: opts.timeoutMs } });
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(timedOut());
    }, Math.max(1, opts.timeoutMs));
  });
  expiry.catch(() => {}); // handled through the race below
  let stream: Duplex | undefined;
  try {
    const exec = await Promise.race([
      docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false }),
      expiry,
    ]).catch(rethrow(id));
    stream = await Promise.race([exec.start({ hijack: true, stdin: false, abortSignal: abort.signal }), expiry]).catch(rethrow(id));
    const output = await Promise.race([collect(stream), expiry]);
    const exitCode = await Promise.race([exitCodeOf(exec, deadline, timedOut), expiry]).catch(rethrow(id));
    return { exitCode, output };
  } finally {
    clearTimeout(timer);
    stream?.destroy();
  }
}

function rethrow(id: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof DockerletError) throw err;
    const code = isNotFound(err) ? ErrorCodes.NOT_FOUND : ErrorCodes.RUNTIME;
    throw new DockerletError(code, `docker exec failed: ${dockerMessage(err)}`, { cause: err, details: { op: 'exec', id } });
  };
}

/** Demultiplexes the hijacked stream until Docker closes it; keeps the first EXEC_OUTPUT_LIMIT bytes. */
function collect(stream: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    const demux = new LogStream({ multiplexed: true, limitBytes: EXEC_OUTPUT_LIMIT });
    const chunks: Buffer[] = [];
    demux.on('data', (c: Buffer) => chunks.push(c));
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      demux.end(() => resolve(Buffer.concat(chunks).toString('utf8')));
    };
    stream.on('data', (c: Buffer) => demux.write(c));
    stream.once('end', done);
    stream.once('close', done);
    stream.once('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
  });
}

/** The exec's exit code; Docker may report Running for a moment after the stream closed. */
async function exitCodeOf(exec: Dockerode.Exec, deadline: number, timedOut: () => Error): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    if (Date.now() >= deadline) throw timedOut();
    await new Promise((r) => setTimeout(r, 10));
  }
  throw timedOut();
}
