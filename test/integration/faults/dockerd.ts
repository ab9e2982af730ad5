// Restarting the Docker daemon for fault tests, the way scripts/setup-host.sh starts it (setsid dockerd,
// log appended to /var/log/dockerd.log). dockerd 20.10 without live-restore stops every container on
// this machine when it stops: fault tests that call this must be few.
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';

const LOG = process.env.DOCKERD_LOG ?? '/var/log/dockerd.log';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function dockerInfoOk(): Promise<boolean> {
  return new Promise((resolve) => execFile('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 10_000 }, (err) => resolve(!err)));
}

/** The pid of the running dockerd (the process whose comm is `dockerd`). */
export function dockerdPid(): number | undefined {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() === 'dockerd') pids.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids.sort((x, y) => x - y)[0];
}

/**
 * Stops dockerd (SIGTERM; it stops every container) and starts it again; resolves once `docker info`
 * answers. Returns how long Docker was unavailable (ms).
 */
export async function restartDockerd(opts: { timeoutMs?: number } = {}): Promise<number> {
  const pid = dockerdPid();
  if (!pid) throw new Error('dockerd is not running');
  const t0 = Date.now();
  const deadline = t0 + (opts.timeoutMs ?? 120_000);
  process.kill(pid, 'SIGTERM');
  while (existsSync(`/proc/${pid}`)) {
    if (Date.now() > deadline) throw new Error(`dockerd (pid ${pid}) did not stop`);
    await sleep(200);
  }
  const fd = openSync(LOG, 'a');
  try {
    spawn('setsid', ['dockerd'], { detached: true, stdio: ['ignore', fd, fd] }).unref();
  } finally {
    closeSync(fd);
  }
  while (!(await dockerInfoOk())) {
    if (Date.now() > deadline) throw new Error(`dockerd did not come back; see ${LOG}`);
    await sleep(500);
  }
  return Date.now() - t0;
}
