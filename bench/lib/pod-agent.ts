// The agent under test as a child process (`node bin/dockerlet.js agent ...`, its own process group,
// log to a file), and a /proc sampler for its memory and CPU.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

export interface AgentOptions {
  repo: string;
  kubeconfig: string;
  nodeName: string;
  rootDir: string;
  dockerEndpoint: string;
  logPath: string;
  /** A YAML config file (--config). */
  configFile?: string;
  /** Script to run instead of bin/dockerlet.js (e.g. compileAgent's output). */
  entry?: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  logLevel?: string;
}

export interface AgentProcess {
  readonly pid: number;
  alive(): boolean;
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL to the group after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) {
    try { process.kill(-c.pid!, 'SIGKILL'); } catch { /* gone */ }
  }
});

export function startAgent(o: AgentOptions): AgentProcess {
  const fd = openSync(o.logPath, 'a');
  const args = [
    ...(o.nodeFlags ?? []), o.entry ?? join(o.repo, 'bin/dockerlet.js'), 'agent',
    '--kubeconfig', o.kubeconfig, '--node-name', o.nodeName, '--root-dir', o.rootDir,
    '--docker-endpoint', o.dockerEndpoint, '--log-level', o.logLevel ?? 'info',
    ...(o.configFile ? ['--config', o.configFile] : []),
  ];
  const child = spawn(process.execPath, args, { cwd: o.repo, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => { live.delete(child); resolve(); }));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid!,
    alive,
    logTail(lines = 30) {
      try {
        return readFileSync(o.logPath, 'utf8').split('\n').filter(Boolean).slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    async stop(graceMs = 15_000) {
      if (!alive()) return;
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

const SOURCE_DIRS = ['agent', 'cli', 'kube', 'lib', 'metrics', 'proxy', 'runtime'];

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/**
 * Transpiles the agent's sources file by file to plain ESM JavaScript (esbuild, tsx's own transpiler)
 * under outDir, so the agent runs on bare node without the tsx loader. Returns the entry script.
 */
export async function compileAgent(repo: string, outDir: string): Promise<string> {
  const { build } = await import('esbuild');
  const entryPoints = (await Promise.all(SOURCE_DIRS.map((d) => tsFiles(join(repo, d))))).flat();
  await build({ entryPoints, outdir: outDir, outbase: repo, format: 'esm', platform: 'node', target: 'node20', bundle: false, logLevel: 'error' });
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { name: string; version: string };
  await writeFile(join(outDir, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module' }));
  await symlink(join(repo, 'node_modules'), join(outDir, 'node_modules'), 'dir').catch(() => undefined);
  await mkdir(join(outDir, 'bin'), { recursive: true });
  const entry = join(outDir, 'bin', 'dockerlet.js');
  await writeFile(entry, `await import(${JSON.stringify(relative(join(outDir, 'bin'), join(outDir, 'cli', 'main.js')))});\n`);
  return entry;
}

export interface ProcUsage {
  rssKiB: number;
  hwmKiB: number;
  /** utime + stime in clock ticks. */
  cpuTicks: number;
  /** cutime + cstime: the reaped children's (a shim's runc calls). */
  childTicks: number;
}

export function readProcUsage(pid: number): ProcUsage | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised comm: state is field 3; utime/stime are fields 14/15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM'), cpuTicks: Number(rest[11]) + Number(rest[12]), childTicks: Number(rest[13]) + Number(rest[14]) };
  } catch {
    return undefined;
  }
}

let clkTck: number | undefined;
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

export interface UsageSummary {
  /** VmRSS when the window opened. */
  startRssMiB: number;
  /** VmHWM at the end of the window (reset at its start when the kernel allows). */
  peakRssMiB: number;
  hwmReset: boolean;
  /** Largest VmRSS sampled in the window. */
  maxSampledRssMiB: number;
  cpuSeconds: number;
  samples: number;
}

/** Samples a pid's /proc entries every intervalMs between start() and stop(). */
export class ProcSampler {
  readonly #pid: number;
  #timer: NodeJS.Timeout | undefined;
  #first: ProcUsage | undefined;
  #last: ProcUsage | undefined;
  #maxRss = 0;
  #samples = 0;
  #hwmReset = false;

  constructor(pid: number) {
    this.#pid = pid;
  }

  start(intervalMs = 200): void {
    // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak is this window's.
    try {
      writeFileSync(`/proc/${this.#pid}/clear_refs`, '5');
      this.#hwmReset = true;
    } catch {
      this.#hwmReset = false;
    }
    this.#first = readProcUsage(this.#pid);
    this.#take();
    this.#timer = setInterval(() => this.#take(), intervalMs);
  }

  #take(): void {
    const u = readProcUsage(this.#pid);
    if (!u) return;
    this.#last = u;
    this.#samples++;
    this.#maxRss = Math.max(this.#maxRss, u.rssKiB);
  }

  stop(): UsageSummary {
    clearInterval(this.#timer);
    this.#take();
    const first = this.#first;
    const last = this.#last;
    const mib = (k: number) => Math.round((k / 1024) * 10) / 10;
    return {
      startRssMiB: first ? mib(first.rssKiB) : NaN,
      peakRssMiB: last ? mib(Math.max(last.hwmKiB, this.#maxRss)) : NaN,
      hwmReset: this.#hwmReset,
      maxSampledRssMiB: mib(this.#maxRss),
      cpuSeconds: first && last ? Math.round(((last.cpuTicks - first.cpuTicks) / clockTicks()) * 100) / 100 : NaN,
      samples: this.#samples,
    };
  }
}

/** Counts the agent's JSON log lines by level, and its warnings/errors by message (top 8, with one example error). */
export function summariseAgentLog(path: string): { lines: number; byLevel: Record<string, number>; problems: [string, number, string][] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { lines: 0, byLevel: {}, problems: [] };
  }
  const byLevel: Record<string, number> = {};
  const problems = new Map<string, { n: number; example: string }>();
  let lines = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    lines++;
    let rec: { level?: number; msg?: string; err?: string };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    const lvl = String(rec.level ?? '?');
    byLevel[lvl] = (byLevel[lvl] ?? 0) + 1;
    if ((rec.level ?? 0) >= 40) {
      const key = rec.msg ?? '';
      const p = problems.get(key) ?? { n: 0, example: rec.err ? String(rec.err).slice(0, 160) : '' };
      p.n++;
      problems.set(key, p);
    }
  }
  return { lines, byLevel, problems: [...problems.entries()].sort((a, b) => b[1].n - a[1].n).slice(0, 8).map(([k, v]) => [k, v.n, v.example]) };
}

/** Pids whose /proc/<pid>/comm is one of names. */
export function pidsByComm(names: string[]): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (names.includes(readFileSync(`/proc/${e}/comm`, 'utf8').trim())) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return String(pid);
  }
}

/** Busy (non-idle, non-iowait) CPU ticks of the whole host, and steal (CPU the hypervisor gave other guests), from /proc/stat. */
function hostTicks(): { busy: number; steal: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = cpu;
  return { busy: user + nice + system + irq + softirq + steal, steal };
}

/** Per containerd-shim process: its CPU ticks and its reaped children's (runc), by pid. */
function shimTicks(): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pidsByComm(['containerd-shim', 'containerd-shim-runc-v2'])) {
    const u = readProcUsage(pid);
    if (u) out.set(pid, u.cpuTicks + u.childTicks);
  }
  return out;
}

/** CPU seconds used by named processes (and by the whole host) between start() and stop(). */
export class CpuWindow {
  #pids: { label: string; pid: number; ticks: number }[] = [];
  #host = 0;
  #steal = 0;
  #shims = new Map<number, number>();

  /** named: label → pids; a label starting with '@' means "label each pid by its comm". */
  start(named: Record<string, number[]>): void {
    ({ busy: this.#host, steal: this.#steal } = hostTicks());
    this.#shims = shimTicks();
    this.#pids = [];
    for (const [label, pids] of Object.entries(named)) {
      for (const pid of pids) this.#pids.push({ label: label.startsWith('@') ? commOf(pid) : label, pid, ticks: readProcUsage(pid)?.cpuTicks ?? NaN });
    }
  }

  stop(): Record<string, number> {
    const tck = clockTicks();
    const out: Record<string, number> = {};
    for (const p of this.#pids) {
      const now = readProcUsage(p.pid)?.cpuTicks ?? NaN;
      out[p.label] = Math.round(((out[p.label] ?? 0) + (now - p.ticks) / tck) * 100) / 100;
    }
    let shims = 0;
    for (const [pid, t] of shimTicks()) shims += t - (this.#shims.get(pid) ?? 0);
    out['containerd-shims (with runc)'] = Math.round((shims / tck) * 100) / 100;
    const host = hostTicks();
    out['host (all processes)'] = Math.round(((host.busy - this.#host) / tck) * 100) / 100;
    out['host steal (other guests)'] = Math.round(((host.steal - this.#steal) / tck) * 100) / 100;
    return out;
  }
}
