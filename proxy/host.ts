// Host preparation for the proxy: raise RLIMIT_NOFILE (a proxied connection costs 2 fds;
// kube-proxy's userspace mode died on EMFILE until it raised the limit).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';

const execFileP = promisify(execFile);
export const WANTED_NOFILE = 1_048_576;

/** Raises this process's nofile limit with prlimit (as root). Returns the new soft limit, or undefined. */
export async function raiseFdLimit(log: Logger, wanted = WANTED_NOFILE): Promise<number | undefined> {
  let limit = wanted;
  try {
    const nrOpen = Number((await readFile('/proc/sys/fs/nr_open', 'utf8')).trim());
    if (Number.isFinite(nrOpen) && nrOpen > 0) limit = Math.min(limit, nrOpen);
  } catch { /* keep wanted */ }
  try {
    await execFileP('prlimit', ['--pid', String(process.pid), `--nofile=${limit}:${limit}`], { timeout: 10_000 });
    log.info({ nofile: limit }, 'raised the open-files limit');
    return limit;
  } catch (err) {
    log.warn({ err: errorMessage(err), wanted: limit }, 'could not raise the open-files limit; the proxy may hit EMFILE under load');
    return undefined;
  }
}

/** Current soft nofile limit of this process (from /proc/self/limits). */
export async function currentFdLimit(): Promise<number | undefined> {
  try {
    const text = await readFile('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : undefined;
  } catch {
    return undefined;
  }
}
