// Applies the rendered portals and refusals with iptables-restore --noflush (one batch per sync,
// nat and filter, only what changed: restore-plan.ts) and removes them on clean exit. Host traffic
// is DNATed to node addresses, so net.ipv4.conf.*.route_localnet is never written; a host where it is 1 is told about the exposure
// (CVE-2020-8558) that the loopback guard rule closes while the proxy runs.
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { DockerletError, ErrorCodes, errorMessage } from '../lib/errors.js';
import { partLogger, type Logger } from '../lib/log.js';
import {
  BUILTINS, MAX_PREFIX_LENGTH, renderCleanup, renderFilterRules, renderFirewallRules, renderGuardRules, renderJumpFixes, renderServiceRules,
  type BuiltinRules, type PortalOptions, type PortalSpec, type Table,
} from './portals.js';
import { FULL_SYNC_PERIOD_MS, planRestore, rulesByChain, type ChainRules } from './restore-plan.js';

const execFileP = promisify(execFile);
const ROUTE_LOCALNET = '/proc/sys/net/ipv4/conf/all/route_localnet';

export interface IptablesRunner {
  /** The builtin chains we jump from: `iptables -t nat -S PREROUTING` + `-S OUTPUT`, and `-t filter -S INPUT`. */
  listBuiltins(): Promise<BuiltinRules>;
  restore(input: string): Promise<void>;
}

export const systemIptables: IptablesRunner = {
  async listBuiltins() {
    const list = async (table: string, chain: string) => (await execFileP('iptables', ['-w', '5', '-t', table, '-S', chain], { timeout: 15_000 })).stdout;
    const all = async (table: Table) => (await Promise.all(BUILTINS[table].map((c) => list(table, c)))).join('\n');
    return { nat: await all('nat'), filter: await all('filter') };
  },
  restore(input) {
    return new Promise((resolve, reject) => {
      const p = spawn('iptables-restore', ['-w', '5', '--noflush'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
      p.on('error', (e) => { clearTimeout(t); reject(e); });
      p.on('close', (code) => {
        clearTimeout(t);
        if (code === 0) resolve();
        else reject(new DockerletError(ErrorCodes.IPTABLES, `iptables-restore exited ${code}: ${err.trim()}`, { details: { exitCode: code } }));
      });
      p.stdin.end(input);
    });
  },
};

export class Portals {
  readonly #opts: PortalOptions;
  readonly #runner: IptablesRunner;
  readonly #log: Logger;
  readonly #touchHost: boolean;
  readonly #now: () => number;
  /** The rules per chain last written (undefined: unknown, the next write is a full one). */
  #applied: ChainRules | undefined;
  #lastFullAt = -Infinity;

  /** deps.runner replaces the iptables binaries (tests); then prepareHost does not look at the host. */
  constructor(opts: PortalOptions, deps: { runner?: IptablesRunner; log?: Logger; now?: () => number } = {}) {
    if (!/^[A-Z][A-Z0-9-]*$/.test(opts.prefix) || opts.prefix.length > MAX_PREFIX_LENGTH) {
      throw new DockerletError(ErrorCodes.CONFIG_INVALID, `iptables chain prefix must be 1-${MAX_PREFIX_LENGTH} of [A-Z0-9-]: ${opts.prefix}`);
    }
    this.#opts = opts;
    this.#runner = deps.runner ?? systemIptables;
    this.#touchHost = deps.runner === undefined;
    this.#now = deps.now ?? Date.now;
    this.#log = partLogger(deps.log, 'iptables');
  }

  get options(): Readonly<PortalOptions> {
    return this.#opts;
  }

  /**
   * Reads net.ipv4.conf.all.route_localnet (never writes it): where something else (an older
   * dockerlet among others) set it to 1, says so; the loopback guard rule drops what it would let in.
   */
  async prepareHost(): Promise<void> {
    if (!this.#touchHost) return;
    const value = await readFile(ROUTE_LOCALNET, 'utf8').then((v) => v.trim(), () => '');
    if (value === '1') {
      this.#log.warn({ sysctl: 'net.ipv4.conf.all.route_localnet', value }, 'route_localnet=1 lets neighbours reach services bound to 127.0.0.1 (CVE-2020-8558); the proxy does not need it and drops such packets with its loopback guard rule while it runs; set it back to 0 unless something else needs it');
    }
  }

  /**
   * Writes what changed since the last write (restore-plan.ts: only changed chains, patched per service
   * port), with the builtin jumps fixed. A full write (every chain declared and refilled) the first
   * time, after a failure, and when `periodic` is set and the last full one is FULL_SYNC_PERIOD old,
   * as upstream. An incremental batch that fails (our chains changed behind our back) is followed at
   * once by a full one. Returns false when nothing had to be written.
   */
  async apply(specs: readonly PortalSpec[], periodic = false): Promise<boolean> {
    const builtins = await this.#runner.listBuiltins().catch((err) => {
      throw new DockerletError(ErrorCodes.IPTABLES, `listing builtin chains failed: ${errorMessage(err)}`, { cause: err });
    });
    const prefix = this.#opts.prefix;
    const next = rulesByChain(prefix, [
      ...renderServiceRules(specs, this.#opts), ...renderGuardRules(prefix), ...renderFilterRules(specs, prefix), ...renderFirewallRules(specs, prefix),
    ]);
    const fixes = { nat: renderJumpFixes(prefix, builtins.nat, 'nat'), filter: renderJumpFixes(prefix, builtins.filter, 'filter') };
    const full = this.#applied === undefined || (periodic && this.#now() - this.#lastFullAt >= FULL_SYNC_PERIOD_MS);
    const input = planRestore(prefix, full ? undefined : this.#applied, next, fixes);
    if (input === null) return false;
    try {
      await this.#runner.restore(input);
    } catch (err) {
      this.#applied = undefined;
      if (full) throw new DockerletError(ErrorCodes.IPTABLES, `iptables-restore failed: ${errorMessage(err)}`, { cause: err, details: { input } });
      this.#log.warn({ err }, 'incremental iptables-restore failed; writing every chain');
      return this.apply(specs);
    }
    this.#applied = next;
    if (full) this.#lastFullAt = this.#now();
    return true;
  }

  /** Removes our jump rules and chains. */
  async cleanup(): Promise<void> {
    const builtins = await this.#runner.listBuiltins();
    await this.#runner.restore(renderCleanup(this.#opts.prefix, builtins));
    this.#applied = undefined;
  }
}
