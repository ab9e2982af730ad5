// Process helpers for benchmarks: start a child and wait for its port, run a bounded command,
// find free ports, install missing Debian packages.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Free ports come from below the ephemeral range (see test/cluster/net.ts). */
export { freePort } from '../../test/cluster/net.js';

/** Polls until a TCP connect to host:port succeeds (bounded). */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${host}:${port} did not open within ${timeoutMs} ms`);
}

export interface Child {
  proc: ChildProcess;
  output(): string;
  /** Resolves when the output matches re (bounded). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a long-running child (own process group) and keeps the tail of its output. */
export function startChild(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Child {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: opts.env ?? process.env, cwd: opts.cwd });
  let out = '';
  const keep = (d: Buffer) => { out = (out + d.toString()).slice(-8192); };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    output: () => out,
    async waitFor(re, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`child ${cmd} did not print ${re}; output: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      try { process.kill(-proc.pid!, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(-proc.pid!, 'SIGKILL'); } catch { /* gone */ } }, 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Runs a command to completion with a hard timeout; returns stdout. */
export async function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await execFileP(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' });
  return stdout;
}

export async function have(cmd: string): Promise<boolean> {
  try {
    await execFileP('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** apt-get installs the packages whose commands are missing (command → package). */
export async function ensureAptPackages(cmds: Record<string, string>): Promise<void> {
  const missing: string[] = [];
  for (const [cmd, pkg] of Object.entries(cmds)) if (!(await have(cmd))) missing.push(pkg);
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(' ')} with apt-get`);
  await run('apt-get', ['update', '-qq'], 300_000);
  await execFileP('apt-get', ['install', '-y', '-qq', ...missing], { timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}
