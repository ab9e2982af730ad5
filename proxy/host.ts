// Host facts for the proxy: raise RLIMIT_NOFILE (a proxied connection costs 2 fds; kube-proxy's
// userspace mode died on EMFILE until it raised the limit), and the source address of a route.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Logger } from '../lib/log.js';

const execFileP = promisify(execFile);
export const WANTED_NOFILE = 1_048_576;

/**
 * Raises this process's nofile limit with prlimit. As root (CAP_SYS_RESOURCE) both limits go to
 * `wanted` (capped by fs.nr_open); without that capability the soft limit still goes up to the hard
 * one. Returns the new soft limit, or undefined when nothing could be raised.
 */
export async function raiseFdLimit(log: Logger, wanted = WANTED_NOFILE): Promise<number | undefined> {
  let limit = wanted;
  try {
    const nrOpen = Number((await readFile('/proc/sys/fs/nr_open', 'utf8')).trim());
    if (Number.isFinite(nrOpen) && nrOpen > 0) limit = Math.min(limit, nrOpen);
  } catch { /* keep wanted */ }
  const setLimit = (soft: number, hard: number) =>
    execFileP('prlimit', ['--pid', String(process.pid), `--nofile=${soft}:${hard}`], { timeout: 10_000 });
  try {
    await setLimit(limit, limit);
    log.info({ nofile: limit }, 'raised the open-files limit');
    return limit;
  } catch (err) {
    const hard = (await fdLimits())?.hard;
    if (hard !== undefined && Number.isFinite(hard) && hard > 0) {
      try {
        await setLimit(hard, hard);
        log.warn({ err, wanted: limit, nofile: hard }, 'could not raise the hard open-files limit; raised the soft limit to the hard one');
        return hard;
      } catch { /* report the first error below */ }
    }
    log.warn({ err, wanted: limit }, 'could not raise the open-files limit; the proxy may hit EMFILE under load');
    return undefined;
  }
}

/** Soft and hard nofile limits of this process (from /proc/self/limits). */
async function fdLimits(): Promise<{ soft: number; hard: number } | undefined> {
  try {
    const text = await readFile('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
    const num = (v: string | undefined) => (v === 'unlimited' ? Infinity : Number(v));
    return m ? { soft: num(m[1]), hard: num(m[2]) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * routeSource with each answer kept for ttlMs: the portals are rendered at every sync, routes rarely
 * change, so a sync does not open a socket per UDP address each time.
 */
export function cachedRouteSource(ttlMs: number, now: () => number = Date.now): (ip: string) => Promise<string | undefined> {
  const cache = new Map<string, { src: string | undefined; at: number }>();
  return async (ip) => {
    const hit = cache.get(ip);
    if (hit && now() - hit.at < ttlMs) return hit.src;
    const src = await routeSource(ip);
    cache.set(ip, { src, at: now() });
    return src;
  };
}

/**
 * The source address this host's traffic to ip gets (the route's source), found by connecting a UDP
 * socket: connect() only looks up the route, nothing is sent. Undefined when there is no route.
 */
export function routeSource(ip: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (v: string | undefined) => {
      s.close();
      resolve(v);
    };
    s.once('error', () => done(undefined));
    s.connect(9, ip, () => {
      try {
        done(s.address().address);
      } catch {
        done(undefined);
      }
    });
  });
}
