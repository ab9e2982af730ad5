// Child-process bookkeeping for the control-plane harness: spawn with logs to files, notice early
// exits, stop gracefully (SIGTERM then SIGKILL), and never leave children behind when this process
// exits or is killed by SIGINT/SIGTERM/SIGHUP.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';

interface Entry {
  name: string;
  bin: string;
  args: string[];
  logPath: string;
  child: ChildProcess;
  exit?: string;
  /** Stopped on purpose (stop(name)); not a death deadReason() reports. */
  stopped?: boolean;
  exited: Promise<void>;
}

const live = new Set<ProcessSet>();
let hooksInstalled = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function killEverything(): void {
  for (const set of live) {
    set.killNow();
    try {
      set.exitCleanup?.();
    } catch {
      /* best effort on the way out */
    }
  }
}

function onSignal(sig: NodeJS.Signals): void {
  // Someone else handles this signal (e.g. scripts/cluster.ts stops cleanly): leave it to them.
  if (process.listenerCount(sig) > 1) return;
  killEverything();
  process.removeListener(sig, onSignal);
  process.kill(process.pid, sig); // re-raise with the default action
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killEverything);
  for (const sig of SIGNALS) process.on(sig, onSignal);
}

/** Last `lines` lines of a file (reads at most the final 64 KiB). */
export function tailFile(path: string, lines: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const all = buf.toString('utf8').split('\n');
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines).join('\n');
  } catch (err) {
    return `(cannot read ${path}: ${err instanceof Error ? err.message : String(err)})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export class ProcessSet {
  private readonly entries: Entry[] = [];
  /** Children start in sessions of their own (still stopped by stopAll() and the exit hooks). */
  private readonly ownSessions: boolean;

  constructor(opts: { ownSessions?: boolean } = {}) {
    this.ownSessions = opts.ownSessions ?? false;
  }
  /** Synchronous cleanup (e.g. removing a temp dir) run if this process exits before stopAll(). */
  exitCleanup: (() => void) | undefined;

  /** Starts bin with args; stdout and stderr append to logPath. The child does not keep this process alive. */
  spawn(name: string, bin: string, args: string[], logPath: string): void {
    installHooks();
    live.add(this);
    const i = this.entries.findIndex((e) => e.name === name && e.exit !== undefined);
    if (i >= 0) this.entries.splice(i, 1); // a restart replaces the stopped entry
    const fd = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached: this.ownSessions, env: { ...process.env } });
    } finally {
      closeSync(fd);
    }
    child.unref();
    const entry: Entry = { name, bin, args, logPath, child, exited: Promise.resolve() };
    entry.exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        entry.exit ??= `failed to start: ${err.message}`;
        resolve();
      });
      child.once('exit', (code, signal) => {
        entry.exit ??= signal ? `killed by ${signal}` : `exited with code ${code}`;
        resolve();
      });
    });
    this.entries.push(entry);
  }

  pids(): number[] {
    return this.entries.filter((e) => e.exit === undefined && e.child.pid !== undefined).map((e) => e.child.pid as number);
  }

  /** Stops one child (SIGTERM, then SIGKILL after graceMs); start(name) runs it again with the same arguments. */
  async stop(name: string, graceMs = 10_000): Promise<void> {
    const e = this.entries.find((x) => x.name === name && x.exit === undefined);
    if (!e) throw new Error(`no running process ${name}`);
    e.stopped = true;
    await stopOne(e, graceMs);
  }

  /** Starts a child stopped by stop(name) again, with its binary, arguments and log file. */
  start(name: string): void {
    const e = this.entries.find((x) => x.name === name);
    if (!e || e.exit === undefined) throw new Error(`process ${name} is not stopped`);
    this.spawn(name, e.bin, e.args, e.logPath);
  }

  /** A description of the first child that is no longer running (and was not stopped on purpose), if any. */
  deadReason(): string | undefined {
    const dead = this.entries.find((e) => e.exit !== undefined && !e.stopped);
    return dead ? `${dead.name} ${dead.exit}` : undefined;
  }

  /** SIGKILLs every live child at once (synchronous; for exit paths). */
  killNow(): void {
    for (const e of this.entries) {
      if (e.exit === undefined) {
        try {
          e.child.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }

  /**
   * Stops children group by group (names in each group stop together): SIGTERM, then SIGKILL after
   * graceMs. Children not named in any group stop in a final group.
   */
  async stopAll(groups: string[][], graceMs = 10_000): Promise<void> {
    const named = new Set(groups.flat());
    const rest = this.entries.filter((e) => !named.has(e.name)).map((e) => e.name);
    for (const group of [...groups, rest]) {
      await Promise.all(this.entries.filter((e) => group.includes(e.name)).map((e) => stopOne(e, graceMs)));
    }
    live.delete(this);
  }

  /** The tail of every child's log, headed by its name and status. */
  tail(lines = 40): string {
    return this.entries
      .map((e) => `==> ${e.name} (${e.exit ?? 'running'}; ${e.logPath}) <==\n${tailFile(e.logPath, lines)}`)
      .join('\n');
  }
}

async function stopOne(e: Entry, graceMs: number): Promise<void> {
  if (e.exit !== undefined) return;
  // A ref'd timer on purpose: it keeps this process alive until the child is gone.
  const waitExit = (ms: number) =>
    new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      void e.exited.then(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  e.child.kill('SIGTERM');
  if (await waitExit(graceMs)) return;
  e.child.kill('SIGKILL');
  await waitExit(5_000);
}
