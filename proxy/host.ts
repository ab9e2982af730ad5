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

/** A route-source lookup that can also resolve many addresses at once (see cachedRouteSource). */
export interface RouteSourceLookup {
  (ip: string): Promise<string | undefined>;
  /** Resolves every address not cached yet in one batch, so the per-address calls that follow are cache hits. */
  prefetch?(ips: readonly string[]): Promise<void>;
}

/**
 * routeSource with each answer kept for ttlMs: the portals are rendered at every sync, routes rarely
 * change, so a sync does not open a socket per address each time; prefetch resolves the addresses
 * of thousands of Services with one `ip -batch` (routeSources) instead of a socket each.
 */
export function cachedRouteSource(ttlMs: number, now: () => number = Date.now): RouteSourceLookup {
  const cache = new Map<string, { src: string | undefined; at: number }>();
  const fresh = (ip: string) => {
    const hit = cache.get(ip);
    return hit && now() - hit.at < ttlMs ? hit : undefined;
  };
  const lookup: RouteSourceLookup = async (ip) => {
    const hit = fresh(ip);
    if (hit) return hit.src;
    const src = await routeSource(ip);
    cache.set(ip, { src, at: now() });
    return src;
  };
  lookup.prefetch = async (ips) => {
    const todo = [...new Set(ips)].filter((ip) => !fresh(ip));
    if (todo.length < 16) return;
    const got = await routeSources(todo).catch(() => undefined);
    if (!got) return;
    const at = now();
    for (const ip of todo) if (got.has(ip)) cache.set(ip, { src: got.get(ip), at });
  };
  return lookup;
}

/**
 * The route source of each address (as routeSource) with one `ip -o -force -batch -` of `route get`
 * lines; addresses without a route are absent from the map. Rejects when `ip` cannot run at all.
 */
export function routeSources(ips: readonly string[]): Promise<Map<string, string | undefined>> {
  return new Promise((resolve, reject) => {
    const p = execFile('ip', ['-o', '-force', '-batch', '-'], { timeout: 30_000, maxBuffer: 64 << 20 }, (err, stdout) => {
      if (err && !stdout) { reject(err); return; }
      const out = new Map<string, string | undefined>();
      for (const line of String(stdout).split('\n')) {
        // `10.96.0.1 via 172.17.0.1 dev eth0 src 172.17.0.2 uid 0 \    cache`; a local one starts with `local`.
        const m = /^(?:local |broadcast |unicast |multicast )?(\d+\.\d+\.\d+\.\d+) .*?\bsrc (\d+\.\d+\.\d+\.\d+)/.exec(line);
        if (m) out.set(m[1]!, m[2]!);
      }
      resolve(out);
    });
    p.stdin?.on('error', () => undefined);
    p.stdin?.end(ips.map((ip) => `route get ${ip}`).join('\n') + '\n');
  });
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
