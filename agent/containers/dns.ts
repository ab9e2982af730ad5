// Pod DNS (pkg/kubelet/network/dns): ClusterFirst → cluster DNS + "<ns>.svc.<domain>" searches and ndots:5,
// Default → the node's resolver config, None → pod.spec.dnsConfig only; dnsConfig is merged on top.
import { readFile } from 'node:fs/promises';
import type { Pod } from '../../kube/api.js';

export interface ResolvConf {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface DnsOptions {
  /** Cluster DNS service IPs (kubelet --cluster-dns). Without them ClusterFirst falls back to Default. */
  clusterDNS?: string[];
  /** Cluster domain (kubelet --cluster-domain), default cluster.local. */
  clusterDomain?: string;
  /** The node's resolver config for Default (and the host searches of ClusterFirst); when absent, Docker's default applies. */
  hostDNS?: ResolvConf;
}

interface PodDnsConfig {
  nameservers?: string[];
  searches?: string[];
  options?: { name: string; value?: string }[];
}

export const MAX_DNS_NAMESERVERS = 3;
export const MAX_DNS_SEARCH_PATHS = 32;
export const MAX_DNS_SEARCH_CHARS = 2048;

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { servers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.servers.push(rest[0]);
    else if (key === 'search' || key === 'domain') out.searches = rest.filter((s) => s && s !== '.');
    else if (key === 'options') out.options.push(...rest.filter(Boolean));
  }
  return out;
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/**
 * Reads the node resolver config; when it only names loopback resolvers (systemd-resolved's 127.0.0.53),
 * uses /run/systemd/resolve/resolv.conf like the kubelet's --resolv-conf advice. Undefined if unreadable.
 */
export async function readHostResolvConf(path = '/etc/resolv.conf'): Promise<ResolvConf | undefined> {
  const read = async (p: string) => parseResolvConf(await readFile(p, 'utf8'));
  try {
    const conf = await read(path);
    if (conf.servers.length > 0 && conf.servers.every(isLoopback)) {
      const real = await read('/run/systemd/resolve/resolv.conf').catch(() => undefined);
      if (real && real.servers.length) return real;
    }
    return conf;
  } catch {
    return undefined;
  }
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

function fitSearches(searches: string[]): string[] {
  const out: string[] = [];
  let chars = 0;
  for (const s of unique(searches)) {
    if (out.length >= MAX_DNS_SEARCH_PATHS || chars + s.length + (out.length ? 1 : 0) > MAX_DNS_SEARCH_CHARS) break;
    chars += s.length + (out.length ? 1 : 0);
    out.push(s);
  }
  return out;
}

function mergeOptions(base: string[], pod: PodDnsConfig['options']): string[] {
  const m = new Map<string, string>();
  for (const op of base) {
    const i = op.indexOf(':');
    if (i >= 0) m.set(op.slice(0, i), op.slice(i + 1));
    else m.set(op, '');
  }
  for (const op of pod ?? []) m.set(op.name, op.value ?? '');
  return [...m].map(([k, v]) => (v ? `${k}:${v}` : k));
}

export type PodDnsType = 'cluster' | 'host' | 'none';

/** getPodDNSType. */
export function podDnsType(pod: Pod, opts: DnsOptions): PodDnsType {
  const policy = pod.spec.dnsPolicy || 'ClusterFirst';
  const cluster = (opts.clusterDNS?.length ?? 0) > 0;
  if (policy === 'None') return 'none';
  if (policy === 'ClusterFirstWithHostNet') return cluster ? 'cluster' : 'host';
  if (policy === 'ClusterFirst' && !pod.spec.hostNetwork) return cluster ? 'cluster' : 'host';
  return 'host';
}

/**
 * The MissingClusterDNS Warning (dns.go GetPodDNS): a pod that would use the cluster DNS when the kubelet
 * has no --cluster-dns falls back to Default. Returns the node-level and the pod-level event messages,
 * or undefined when nothing is missing. The pod name is format.Pod's name_namespace(uid).
 */
export function missingClusterDns(pod: Pod, opts: DnsOptions): { node: string; pod: string } | undefined {
  const policy = pod.spec.dnsPolicy || 'ClusterFirst';
  const wantsCluster = policy === 'ClusterFirstWithHostNet' || (policy === 'ClusterFirst' && !pod.spec.hostNetwork);
  if (!wantsCluster || (opts.clusterDNS?.length ?? 0) > 0) return undefined;
  const node = 'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.';
  const name = `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? 'default'}(${pod.metadata.uid ?? ''})`;
  return { node, pod: `pod: "${name}". ${node}` };
}

/** The sandbox DNS settings; undefined means "leave it to Docker" (the host's resolv.conf). */
export function podDns(pod: Pod, opts: DnsOptions = {}): ResolvConf | undefined {
  const type = podDnsType(pod, opts);
  const dnsConfig = (pod.spec as { dnsConfig?: PodDnsConfig }).dnsConfig;
  const host = opts.hostDNS ?? { servers: [], searches: [], options: [] };
  let base: ResolvConf;
  if (type === 'none') base = { servers: [], searches: [], options: [] };
  else if (type === 'cluster') {
    const domain = opts.clusterDomain ?? 'cluster.local';
    const ns = pod.metadata.namespace ?? 'default';
    base = {
      servers: [...(opts.clusterDNS ?? [])],
      searches: domain ? [`${ns}.svc.${domain}`, `svc.${domain}`, domain, ...host.searches] : [...host.searches],
      options: ['ndots:5'],
    };
  } else {
    if (!opts.hostDNS && !dnsConfig) return undefined;
    base = { servers: [...host.servers], searches: [...host.searches], options: [...host.options] };
  }
  if (dnsConfig) {
    base = {
      servers: unique([...base.servers, ...(dnsConfig.nameservers ?? [])]),
      searches: [...base.searches, ...(dnsConfig.searches ?? [])],
      options: mergeOptions(base.options, dnsConfig.options),
    };
  }
  return { servers: unique(base.servers).slice(0, MAX_DNS_NAMESERVERS), searches: fitSearches(base.searches), options: base.options };
}
