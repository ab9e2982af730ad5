// Pure rendering of the iptables portals (nat table) as one iptables-restore --noflush batch:
// our own chains are declared (flushed) and refilled, and exactly one jump rule from each builtin
// chain is ensured by deleting extras and inserting a missing one. Nothing else is touched.

export interface PortalSpec {
  /** Service port key, used as the rule comment. */
  key: string;
  protocol: 'TCP' | 'UDP';
  /** Cluster IPs and external IPs (IPv4). */
  ips: string[];
  port: number;
  /** 0 = none. */
  nodePort: number;
  /** The local listener that serves this service port. */
  listenerPort: number;
}

export interface PortalOptions {
  /** Chain prefix (≤ 9 characters so that `<prefix>-NODEPORT-CONTAINER` fits iptables' 28). */
  prefix: string;
  /** Container (PREROUTING) traffic: REDIRECT to the listener port, or DNAT to listenIP:port when the listener is bound to one address. */
  containerDnatIP?: string;
  /** Host (OUTPUT) traffic is DNATed here (needs net.ipv4.conf.all.route_localnet=1 for 127.0.0.1). */
  hostIP: string;
}

export interface Chains {
  portalsContainer: string;
  portalsHost: string;
  nodePortContainer: string;
  nodePortHost: string;
}

export function chainNames(prefix: string): Chains {
  return {
    portalsContainer: `${prefix}-PORTALS-CONTAINER`,
    portalsHost: `${prefix}-PORTALS-HOST`,
    nodePortContainer: `${prefix}-NODEPORT-CONTAINER`,
    nodePortHost: `${prefix}-NODEPORT-HOST`,
  };
}

export const MAX_PREFIX_LENGTH = 9;

export interface JumpRule {
  builtin: 'PREROUTING' | 'OUTPUT';
  /** Rule spec as `iptables -S` prints it, without `-A <chain>`. */
  spec: string;
  /** Portals go first (before Docker's and NodePort rules); NodePort jumps go last. */
  position: 'first' | 'last';
  target: string;
}

export function jumpRules(prefix: string): JumpRule[] {
  const c = chainNames(prefix);
  const portals = `-m comment --comment "${prefix.toLowerCase()} service portals"`;
  const nodeports = `-m addrtype --dst-type LOCAL -m comment --comment "${prefix.toLowerCase()} service nodeports"`;
  return [
    { builtin: 'PREROUTING', spec: `${portals} -j ${c.portalsContainer}`, position: 'first', target: c.portalsContainer },
    { builtin: 'OUTPUT', spec: `${portals} -j ${c.portalsHost}`, position: 'first', target: c.portalsHost },
    { builtin: 'PREROUTING', spec: `${nodeports} -j ${c.nodePortContainer}`, position: 'last', target: c.nodePortContainer },
    { builtin: 'OUTPUT', spec: `${nodeports} -j ${c.nodePortHost}`, position: 'last', target: c.nodePortHost },
  ];
}

/** Splits an iptables rule line into words, honouring double quotes (quotes removed). */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1] : m[2]!);
  return out;
}

function sameRule(a: string, b: string): boolean {
  const ta = tokenize(a);
  const tb = tokenize(b);
  return ta.length === tb.length && ta.every((t, i) => t === tb[i]);
}

/** The `-A <chain> ...` lines of one chain from `iptables -S` / `iptables-save` output. */
export function chainRules(save: string, chain: string): string[] {
  const prefix = `-A ${chain} `;
  return save.split('\n').map((l) => l.trim()).filter((l) => l.startsWith(prefix));
}

function ruleTarget(line: string): string | undefined {
  const t = tokenize(line);
  const i = t.indexOf('-j');
  return i >= 0 ? t[i + 1] : undefined;
}

/**
 * Lines that make the builtin chains hold exactly one of each of our jump rules: `-D` for every
 * rule that jumps to one of our chains but is a duplicate or differs from the desired spec, and
 * `-I`/`-A` for a missing one. `current` is the `iptables -t nat -S` output of PREROUTING and OUTPUT.
 */
export function renderJumpFixes(prefix: string, current: string): string[] {
  const lines: string[] = [];
  const rules = jumpRules(prefix);
  const ours = new Set(rules.map((r) => r.target));
  for (const builtin of ['PREROUTING', 'OUTPUT'] as const) {
    const wanted = rules.filter((r) => r.builtin === builtin);
    const kept = new Set<JumpRule>();
    for (const line of chainRules(current, builtin)) {
      const target = ruleTarget(line);
      if (!target || !ours.has(target)) continue;
      const spec = line.slice(`-A ${builtin} `.length);
      const match = wanted.find((w) => !kept.has(w) && w.target === target && sameRule(w.spec, spec));
      if (match) kept.add(match);
      else lines.push(`-D ${builtin} ${spec}`);
    }
    for (const w of wanted) {
      if (kept.has(w)) continue;
      lines.push(w.position === 'first' ? `-I ${builtin} 1 ${w.spec}` : `-A ${builtin} ${w.spec}`);
    }
  }
  return lines;
}

/** The per-service rules (pure, deterministic order: by key, then IP). */
export function renderServiceRules(specs: readonly PortalSpec[], opts: PortalOptions): string[] {
  const c = chainNames(opts.prefix);
  const toContainer = (port: number) => (opts.containerDnatIP ? `-j DNAT --to-destination ${opts.containerDnatIP}:${port}` : `-j REDIRECT --to-ports ${port}`);
  const toHost = (port: number) => `-j DNAT --to-destination ${opts.hostIP}:${port}`;
  const lines: string[] = [];
  const sorted = [...specs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0));
  for (const s of sorted) {
    if (!s.listenerPort) continue;
    const p = s.protocol.toLowerCase();
    const comment = `-m comment --comment "${s.key.replace(/"/g, '')}"`;
    for (const ip of [...new Set(s.ips)]) {
      const match = `-d ${ip}/32 -p ${p} ${comment} -m ${p} --dport ${s.port}`;
      lines.push(`-A ${c.portalsContainer} ${match} ${toContainer(s.listenerPort)}`);
      lines.push(`-A ${c.portalsHost} ${match} ${toHost(s.listenerPort)}`);
    }
    if (s.nodePort > 0) {
      const match = `-p ${p} ${comment} -m ${p} --dport ${s.nodePort}`;
      lines.push(`-A ${c.nodePortContainer} ${match} ${toContainer(s.listenerPort)}`);
      lines.push(`-A ${c.nodePortHost} ${match} ${toHost(s.listenerPort)}`);
    }
  }
  return lines;
}

function chainDecls(prefix: string): string[] {
  return Object.values(chainNames(prefix)).map((n) => `:${n} - [0:0]`);
}

/** The whole batch for `iptables-restore --noflush`: declare (= flush) our chains, fix jumps, refill. */
export function renderRestore(specs: readonly PortalSpec[], opts: PortalOptions, currentBuiltins: string): string {
  return ['*nat', ...chainDecls(opts.prefix), ...renderJumpFixes(opts.prefix, currentBuiltins), ...renderServiceRules(specs, opts), 'COMMIT', ''].join('\n');
}

/** The batch that removes every jump to our chains, then flushes and deletes the chains. */
export function renderCleanup(prefix: string, currentBuiltins: string): string {
  const ours = new Set(Object.values(chainNames(prefix)));
  const dels: string[] = [];
  for (const builtin of ['PREROUTING', 'OUTPUT']) {
    for (const line of chainRules(currentBuiltins, builtin)) {
      const t = ruleTarget(line);
      if (t && ours.has(t)) dels.push(`-D ${builtin} ${line.slice(`-A ${builtin} `.length)}`);
    }
  }
  const names = Object.values(chainNames(prefix));
  return ['*nat', ...dels, ...chainDecls(prefix), ...names.map((n) => `-X ${n}`), 'COMMIT', ''].join('\n');
}
