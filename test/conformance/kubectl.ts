// kubectl (as a user runs it) with a bound on time, for the conformance bed's checks.
import { execFile } from 'node:child_process';

export interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command, never throws: a failure to start or a timeout is a non-zero code with the reason in stderr. */
export function run(cmd: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<CmdResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20, env: env ?? process.env }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      const code = e ? (typeof e.code === 'number' ? e.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (e && typeof e.code !== 'number' ? `\n${e.message}` : '') });
    });
  });
}

export function kubectl(kubeconfig: string, args: string[], timeoutMs: number): Promise<CmdResult> {
  return run('kubectl', ['--kubeconfig', kubeconfig, ...args], timeoutMs);
}
