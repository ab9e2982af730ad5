// The host side of the pod network: `ip route` for the host-gw routes (only those tagged with our
// protocol number), the uplink's MTU, and iptables rules in chains of our own (DOCKERLET-POSTROUTING in
// nat, DOCKERLET-FORWARD in filter) jumped to from POSTROUTING and DOCKER-USER — Docker's documented
// place for user rules. Everything is netlink/procfs of the caller's network namespace.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { defaultRouteInterface, parseRoutes, ROUTE_PROTO, type Route } from './plan.js';

const execFileP = promisify(execFile);

export interface HostNet {
  /** Routes we own (proto ROUTE_PROTO). */
  listRoutes(): Promise<Route[]>;
  replaceRoute(r: Route): Promise<void>;
  deleteRoute(r: Route): Promise<void>;
  /** MTU of the default-route interface (undefined when there is none). */
  uplinkMtu(): Promise<number | undefined>;
  /** Makes our chain exist with exactly these rules, and one jump to it from `from` (inserted first). */
  syncChain(table: 'nat' | 'filter', chain: string, from: string, rules: string[][]): Promise<void>;
  /** Whether a chain exists (DOCKER-USER only when dockerd manages iptables). */
  chainExists(table: 'nat' | 'filter', chain: string): Promise<boolean>;
  /** Removes the jump and our chain (clean shutdown of a node leaving the pod network). */
  removeChain(table: 'nat' | 'filter', chain: string, from: string): Promise<void>;
}

async function run(bin: string, args: string[]): Promise<string> {
  try {
    return (await execFileP(bin, args, { timeout: 15_000 })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new DockerletError(bin === 'ip' ? ErrorCodes.RUNTIME : ErrorCodes.IPTABLES, `${bin} ${args.join(' ')}: ${stderr || String(err)}`, { cause: err });
  }
}

async function succeeds(bin: string, args: string[]): Promise<boolean> {
  try {
    await execFileP(bin, args, { timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}

const ipt = (table: string, ...args: string[]) => ['-w', '5', '-t', table, ...args];

export const systemHostNet: HostNet = {
  async listRoutes() {
    return parseRoutes(await run('ip', ['-4', '-j', 'route', 'show', 'proto', String(ROUTE_PROTO)]));
  },
  async replaceRoute(r) {
    await run('ip', ['-4', 'route', 'replace', r.dst, 'via', r.via, 'proto', String(ROUTE_PROTO)]);
  },
  async deleteRoute(r) {
    await run('ip', ['-4', 'route', 'del', r.dst, 'via', r.via, 'proto', String(ROUTE_PROTO)]);
  },
  async uplinkMtu() {
    const iface = defaultRouteInterface(await readFile('/proc/self/net/route', 'utf8').catch(() => ''));
    if (!iface) return undefined;
    const links = JSON.parse(await run('ip', ['-j', 'link', 'show', 'dev', iface])) as { mtu?: number }[];
    return links[0]?.mtu;
  },
  async syncChain(table, chain, from, rules) {
    if (!(await succeeds('iptables', ipt(table, '-S', chain)))) await run('iptables', ipt(table, '-N', chain));
    const have = (await run('iptables', ipt(table, '-S', chain))).trim().split('\n').filter((l) => l.startsWith('-A ')).length;
    let same = have === rules.length;
    for (const r of rules) if (same) same = await succeeds('iptables', ipt(table, '-C', chain, ...r));
    if (!same) {
      await run('iptables', ipt(table, '-F', chain));
      for (const r of rules) await run('iptables', ipt(table, '-A', chain, ...r));
    }
    if (!(await succeeds('iptables', ipt(table, '-C', from, '-j', chain)))) await run('iptables', ipt(table, '-I', from, '1', '-j', chain));
  },
  chainExists: (table, chain) => succeeds('iptables', ipt(table, '-S', chain)),
  async removeChain(table, chain, from) {
    while (await succeeds('iptables', ipt(table, '-D', from, '-j', chain))) { /* every copy of our jump */ }
    if (await succeeds('iptables', ipt(table, '-S', chain))) {
      await run('iptables', ipt(table, '-F', chain));
      await run('iptables', ipt(table, '-X', chain));
    }
  },
};
