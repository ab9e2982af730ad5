// Pure rendering of the iptables portals as one iptables-restore --noflush batch: nat chains that
// send service traffic to the listeners, and a filter chain that refuses new connections to a
// service port without endpoints (REJECT, icmp-port-unreachable: the client sees ECONNREFUSED at
// once, for UDP too) or without local endpoints under internalTrafficPolicy Local (DROP), as
// kube-proxy's filter KUBE-SERVICES does. Our own chains are declared (flushed) and refilled, and
// exactly one jump rule from each builtin chain is ensured by deleting extras and inserting a
// missing one. Nothing else is touched.
// The host's own traffic is DNATed to a node address, never to 127.0.0.1, as upstream's userspace
// proxier did (hostIP), so net.ipv4.conf.all.route_localnet is never needed; and kube-proxy's
// CVE-2020-8558 guard (`-d 127.0.0.0/8 ! -s 127.0.0.0/8 ... ! --ctstate RELATED,ESTABLISHED,DNAT
// -j DROP` from INPUT) protects hosts where something else set route_localnet=1.

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
  /** The listener the host's own traffic goes to, when not listenerPort (externalTrafficPolicy Local: the cluster listener). */
  hostListenerPort?: number;
  /**
   * For each IP, the node address the host's own traffic to it is DNATed to: the source address
   * that traffic already has (the route's source), never a loopback one. A UDP reply from the
   * listener's wildcard socket leaves from the address the client wrote to, and only then does
   * conntrack translate it back to ClusterIP:port; 127.0.0.1 would need route_localnet (the
   * CVE-2020-8558 exposure). An IP without one falls back to PortalOptions.nodeIP. A NodePort keeps
   * its local address and only the port changes.
   */
  hostAddresses?: Readonly<Record<string, string>>;
  /** New connections are refused: REJECT when the service port has no endpoints, DROP when none is local under internalTrafficPolicy Local. */
  refuse?: 'REJECT' | 'DROP';
  /**
   * loadBalancerSourceRanges: traffic to these of `ips` is sent to the listener only from `sources`
   * (CIDRs); the rest is dropped by the filter firewall chain (upstream's KUBE-FW + KUBE-PROXY-FIREWALL).
   */
  firewall?: { ips: readonly string[]; sources: readonly string[] };
}

export interface PortalOptions {
  /** Chain prefix (≤ 9 characters so that `<prefix>-NODEPORT-CONTAINER` fits iptables' 28). */
  prefix: string;
  /** Container (PREROUTING) traffic: REDIRECT to the listener port, or DNAT to listenIP:port when the listener is bound to one address. */
  containerDnatIP?: string;
  /**
   * The bridge of this node's pods: their traffic to an external entry's addresses (hostListenerPort
   * set) goes to the cluster listener, like the host's own (upstream's local traffic detector).
   */
  podBridgeInterface?: string;
  /**
   * Host (OUTPUT) traffic to an IP without a PortalSpec.hostAddresses entry is DNATed to this node
   * address (upstream's hostIP); none (and no containerDnatIP): the host's own traffic to that IP is
   * not intercepted.
   */
  nodeIP?: string;
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

/** The filter-table chain with the refusals (jumped to from INPUT for new connections). */
export function filterChainName(prefix: string): string {
  return `${prefix}-SERVICES`;
}

/** The filter-table chain dropping load balancer traffic from outside its source ranges (jumped to from INPUT, FORWARD, OUTPUT). */
export function firewallChainName(prefix: string): string {
  return `${prefix}-FIREWALL`;
}

/** The filter-table chain holding kube-proxy's CVE-2020-8558 guard (jumped to from INPUT). */
export function guardChainName(prefix: string): string {
  return `${prefix}-LOOPBACK-GUARD`;
}

/** The filter chains of ours. */
export function filterChainNames(prefix: string): string[] {
  return [filterChainName(prefix), firewallChainName(prefix), guardChainName(prefix)];
}

/** Every chain of ours, nat and filter. */
export function allChainNames(prefix: string): string[] {
  return [...Object.values(chainNames(prefix)), ...filterChainNames(prefix)];
}

/**
 * Upstream's guard: packets to 127.0.0.0/8 from elsewhere that conntrack did not DNAT there are
 * dropped, so a neighbour cannot reach loopback-only services even where route_localnet=1.
 */
export function renderGuardRules(prefix: string): string[] {
  return [`-A ${guardChainName(prefix)} -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m comment --comment "${prefix.toLowerCase()}: block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`];
}

export const MAX_PREFIX_LENGTH = 9;

export type Table = 'nat' | 'filter';

/** `iptables -S` output of the builtin chains we jump from: nat PREROUTING + OUTPUT, filter INPUT + FORWARD + OUTPUT. */
export interface BuiltinRules {
  nat: string;
  filter: string;
}

export const BUILTINS: Record<Table, readonly string[]> = { nat: ['PREROUTING', 'OUTPUT'], filter: ['INPUT', 'FORWARD', 'OUTPUT'] };

export interface JumpRule {
  table: Table;
  builtin: 'PREROUTING' | 'OUTPUT' | 'INPUT' | 'FORWARD';
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
  const refusals = `-m conntrack --ctstate NEW -m comment --comment "${prefix.toLowerCase()} service refusals"`;
  const f = filterChainName(prefix);
  const fw = firewallChainName(prefix);
  const firewall = `-m conntrack --ctstate NEW -m comment --comment "${prefix.toLowerCase()} load balancer firewall"`;
  const guard = guardChainName(prefix);
  return [
    { table: 'filter', builtin: 'INPUT', spec: `-m comment --comment "${prefix.toLowerCase()} loopback guard" -j ${guard}`, position: 'first', target: guard },
    { table: 'nat', builtin: 'PREROUTING', spec: `${portals} -j ${c.portalsContainer}`, position: 'first', target: c.portalsContainer },
    { table: 'nat', builtin: 'OUTPUT', spec: `${portals} -j ${c.portalsHost}`, position: 'first', target: c.portalsHost },
    { table: 'nat', builtin: 'PREROUTING', spec: `${nodeports} -j ${c.nodePortContainer}`, position: 'last', target: c.nodePortContainer },
    { table: 'nat', builtin: 'OUTPUT', spec: `${nodeports} -j ${c.nodePortHost}`, position: 'last', target: c.nodePortHost },
    // After the nat portals the packet's destination is the listener: refusals match its port.
    { table: 'filter', builtin: 'INPUT', spec: `${refusals} -j ${f}`, position: 'first', target: f },
    // Traffic a source range let through was redirected by nat already; what is left still has the LB IP as destination.
    ...(['INPUT', 'FORWARD', 'OUTPUT'] as const).map((builtin): JumpRule => ({ table: 'filter', builtin, spec: `${firewall} -j ${fw}`, position: 'first', target: fw })),
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
 * Lines that make the builtin chains of one table hold exactly one of each of our jump rules: `-D`
 * for every rule that jumps to one of our chains but is a duplicate or differs from the desired
 * spec, and `-I`/`-A` for a missing one. `current` is the `iptables -t <table> -S` output of its builtins.
 */
export function renderJumpFixes(prefix: string, current: string, table: Table = 'nat'): string[] {
  const lines: string[] = [];
  const rules = jumpRules(prefix).filter((r) => r.table === table);
  const ours = new Set(rules.map((r) => r.target));
  for (const builtin of BUILTINS[table]) {
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

function bySpecKey(a: PortalSpec, b: PortalSpec): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0;
}

/** The per-service nat rules (pure, deterministic order: by key, then IP). */
export function renderServiceRules(specs: readonly PortalSpec[], opts: PortalOptions): string[] {
  const c = chainNames(opts.prefix);
  const toContainer = (port: number) => (opts.containerDnatIP ? `-j DNAT --to-destination ${opts.containerDnatIP}:${port}` : `-j REDIRECT --to-ports ${port}`);
  // A bound listener only listens on its address; a wildcard one takes the node address of the IP.
  const hostAddress = (s: PortalSpec, ip: string) => opts.containerDnatIP ?? s.hostAddresses?.[ip] ?? opts.nodeIP;
  const lines: string[] = [];
  for (const s of [...specs].sort(bySpecKey)) {
    if (!s.listenerPort) continue;
    const p = s.protocol.toLowerCase();
    const comment = ruleComment(s.key);
    const hostPort = s.hostListenerPort || s.listenerPort;
    for (const ip of [...new Set(s.ips)]) {
      const to = hostAddress(s, ip);
      // A firewalled load balancer IP gets its rules once per allowed source range, none for other sources.
      const sources = s.firewall?.ips.includes(ip) ? s.firewall.sources.map((src) => `-s ${src} `) : [''];
      for (const src of sources) {
        const match = `${src}-d ${ip}/32 -p ${p} ${comment} -m ${p} --dport ${s.port}`;
        if (s.hostListenerPort && opts.podBridgeInterface) lines.push(`-A ${c.portalsContainer} ${match} -i ${opts.podBridgeInterface} ${toContainer(hostPort)}`);
        lines.push(`-A ${c.portalsContainer} ${match} ${toContainer(s.listenerPort)}`);
        if (to) lines.push(`-A ${c.portalsHost} ${match} -j DNAT --to-destination ${to}:${hostPort}`);
      }
    }
    if (s.nodePort > 0) {
      const match = `-p ${p} ${comment} -m ${p} --dport ${s.nodePort}`;
      if (s.hostListenerPort && opts.podBridgeInterface) lines.push(`-A ${c.nodePortContainer} ${match} -i ${opts.podBridgeInterface} ${toContainer(hostPort)}`);
      lines.push(`-A ${c.nodePortContainer} ${match} ${toContainer(s.listenerPort)}`);
      // The local address the host wrote to stays (127.0.0.1 stays loopback); only the port changes.
      lines.push(`-A ${c.nodePortHost} ${match} -j DNAT --to-destination ${opts.containerDnatIP ?? ''}:${hostPort}`);
    }
  }
  return lines;
}

/** `-m comment` naming a service port (quotes dropped: iptables-restore cannot take them), with an optional note. */
function ruleComment(key: string, note?: string): string {
  return `-m comment --comment "${key.replace(/"/g, '')}${note ? ` ${note}` : ''}"`;
}

/** The filter rules: refuse new connections to the listener of a service port that has nowhere to send them. */
export function renderFilterRules(specs: readonly PortalSpec[], prefix: string): string[] {
  const chain = filterChainName(prefix);
  const lines: string[] = [];
  for (const s of [...specs].sort(bySpecKey)) {
    if (!s.listenerPort || !s.refuse) continue;
    const p = s.protocol.toLowerCase();
    const why = s.refuse === 'REJECT' ? 'has no endpoints' : 'has no local endpoints';
    const target = s.refuse === 'REJECT' ? '-j REJECT --reject-with icmp-port-unreachable' : '-j DROP';
    lines.push(`-A ${chain} -p ${p} ${ruleComment(s.key, why)} -m ${p} --dport ${s.listenerPort} ${target}`);
  }
  return lines;
}

/** The firewall rules: new connections to a firewalled load balancer IP that no source range let through are dropped. */
export function renderFirewallRules(specs: readonly PortalSpec[], prefix: string): string[] {
  const chain = firewallChainName(prefix);
  const lines: string[] = [];
  for (const s of [...specs].sort(bySpecKey)) {
    if (!s.listenerPort || !s.firewall) continue;
    const p = s.protocol.toLowerCase();
    for (const ip of [...new Set(s.firewall.ips)]) {
      lines.push(`-A ${chain} -d ${ip}/32 -p ${p} ${ruleComment(s.key, 'traffic not accepted by loadBalancerSourceRanges')} -m ${p} --dport ${s.port} -j DROP`);
    }
  }
  return lines;
}

function chainDecls(prefix: string): string[] {
  return Object.values(chainNames(prefix)).map((n) => `:${n} - [0:0]`);
}

/** The whole batch for `iptables-restore --noflush`: per table, declare (= flush) our chains, fix jumps, refill. */
export function renderRestore(specs: readonly PortalSpec[], opts: PortalOptions, current: BuiltinRules): string {
  return [
    '*nat', ...chainDecls(opts.prefix), ...renderJumpFixes(opts.prefix, current.nat, 'nat'), ...renderServiceRules(specs, opts), 'COMMIT',
    '*filter', ...filterChainNames(opts.prefix).map((n) => `:${n} - [0:0]`), ...renderJumpFixes(opts.prefix, current.filter, 'filter'),
    ...renderGuardRules(opts.prefix), ...renderFilterRules(specs, opts.prefix), ...renderFirewallRules(specs, opts.prefix), 'COMMIT',
    '',
  ].join('\n');
}

/** The batch that removes every jump to our chains, then flushes and deletes the chains, in both tables. */
export function renderCleanup(prefix: string, current: BuiltinRules): string {
  const section = (table: Table, names: string[]) => {
    const ours = new Set(names);
    const dels: string[] = [];
    for (const builtin of BUILTINS[table]) {
      for (const line of chainRules(current[table], builtin)) {
        const t = ruleTarget(line);
        if (t && ours.has(t)) dels.push(`-D ${builtin} ${line.slice(`-A ${builtin} `.length)}`);
      }
    }
    return [`*${table}`, ...dels, ...names.map((n) => `:${n} - [0:0]`), ...names.map((n) => `-X ${n}`), 'COMMIT'];
  };
  return [...section('nat', Object.values(chainNames(prefix))), ...section('filter', filterChainNames(prefix)), ''].join('\n');
}
