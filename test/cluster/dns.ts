// Cluster DNS for a test cluster, as kubeadm's CoreDNS add-on (cmd/kubeadm/app/phases/addons/dns):
// ServiceAccount + ClusterRole/Binding system:coredns + ConfigMap (Corefile with the kubernetes plugin)
// + Deployment coredns + Service kube-system/kube-dns at the kubelet's clusterDNS (10.96.0.10, the
// 10th address of the service range), from examples/coredns/coredns.yaml (what people kubectl apply).
// The image is built locally by scripts/build-coredns.sh. By default the Corefile has no `forward`
// (and so no `loop`): CoreDNS answers only from the cluster, and no query ever leaves this host.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { waitFor } from './net.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const COREDNS_MANIFEST = `${REPO}examples/coredns/coredns.yaml`;
export const BUILD_SCRIPT = `${REPO}scripts/build-coredns.sh`;
export const DEFAULT_CLUSTER_DNS_IP = '10.96.0.10';
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

export interface ClusterDnsOptions {
  kubeconfig: string;
  /** Default: the manifest's (dockerlet/coredns:<version> from scripts/build-coredns.sh). */
  image?: string;
  /** kube-dns Service clusterIP = the nodes' clusterDNS; default 10.96.0.10. */
  clusterIP?: string;
  /** The nodes' clusterDomain; default cluster.local. */
  domain?: string;
  /** Default: the manifest's (2, as kubeadm). */
  replicas?: number;
  /**
   * Upstream resolvers for names outside the cluster domain (`forward . <this>`, plus `loop`).
   * Default false: no forward plugin, names outside the cluster get SERVFAIL from CoreDNS itself.
   */
  forward?: string | false;
  signal?: AbortSignal;
  /** Bound on waiting for CoreDNS to answer; default 120 s. */
  timeoutMs?: number;
  kubectl?: string;
  /**
   * Asks server (a CoreDNS pod IP) for the A records of name. Default: a UDP query from this process
   * (the pod IPs must be reachable from here, as on the single-node bed); the three-node bed passes one
   * that runs inside a node's network namespace.
   */
  query?: (server: string, name: string) => Promise<string[]>;
}

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

/** Drops the `forward` directive (one line or a block) and `loop` from a Corefile. */
export function withoutForward(corefile: string): string {
  const out: string[] = [];
  let depth = 0;
  for (const line of corefile.split('\n')) {
    const t = line.trim();
    if (depth > 0) {
      depth += (t.match(/{/g) ?? []).length - (t.match(/}/g) ?? []).length;
      continue;
    }
    if (/^forward\s/.test(t)) {
      depth = (t.match(/{/g) ?? []).length - (t.match(/}/g) ?? []).length;
      continue;
    }
    if (t === 'loop') continue;
    out.push(line);
  }
  return out.join('\n');
}

/** The manifest's objects with the options applied (pure: the plan step). */
export function renderClusterDns(manifest: string, opts: Omit<ClusterDnsOptions, 'kubeconfig'> = {}): Obj[] {
  const docs = parseAllDocuments(manifest).map((d) => d.toJS() as Obj | null).filter((d): d is Obj => d !== null);
  const find = (kind: string) => {
    const o = docs.find((d) => d.kind === kind);
    if (!o) throw new DockerletError(ErrorCodes.MANIFEST_INVALID, `${COREDNS_MANIFEST}: no ${kind}`);
    return o;
  };
  const domain = opts.domain ?? DEFAULT_CLUSTER_DOMAIN;
  const cm = find('ConfigMap') as Obj & { data: { Corefile: string } };
  let corefile = cm.data.Corefile.replaceAll(DEFAULT_CLUSTER_DOMAIN, domain);
  if (opts.forward === undefined || opts.forward === false) corefile = withoutForward(corefile);
  else corefile = corefile.replace(/^(\s*forward \. )\S+/m, `$1${opts.forward}`);
  cm.data.Corefile = corefile;
  const dep = find('Deployment') as Obj & { spec: { replicas?: number; template: { spec: { containers: { image: string }[] } } } };
  if (opts.image) dep.spec.template.spec.containers[0]!.image = opts.image;
  if (opts.replicas !== undefined) dep.spec.replicas = opts.replicas;
  const svc = find('Service') as Obj & { spec: { clusterIP: string } };
  svc.spec.clusterIP = opts.clusterIP ?? DEFAULT_CLUSTER_DNS_IP;
  return docs;
}

function run(cmd: string, args: string[], input?: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (err) reject(new DockerletError(ErrorCodes.CONTROL_PLANE, `${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** A UDP A query from this process to server:53 (no search list, one try). */
export async function queryA(server: string, name: string): Promise<string[]> {
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([server]);
  return r.resolve4(name);
}

/** The addresses under the "Name: <name>" lines of busybox nslookup output (the server's own lines skipped). */
export function parseNslookup(out: string, name: string): string[] {
  const addrs: string[] = [];
  let inAnswer = false;
  for (const line of out.split('\n').map((l) => l.trim())) {
    const n = /^Name:\s*(\S+)$/.exec(line);
    if (n) inAnswer = n[1] === name || n[1] === `${name}.`;
    else if (!line) inAnswer = false;
    const a = /^Address:\s*(\S+)$/.exec(line);
    if (a && inAnswer) addrs.push(a[1]!);
  }
  return addrs.sort();
}

/**
 * A query function for deployClusterDns that runs the host's busybox nslookup through exec (e.g. inside a
 * bed node's network namespace, where the pod network is routed).
 */
export function nslookupVia(exec: (cmd: string[]) => Promise<{ stdout: string }>): (server: string, name: string) => Promise<string[]> {
  return async (server, name) => parseNslookup((await exec(['busybox', 'nslookup', '-type=a', name, server])).stdout, name);
}

/**
 * Makes sure the CoreDNS image exists on the Docker daemon (`docker` CLI env decides which), building
 * it with scripts/build-coredns.sh when not (seconds when the binary is cached). Returns the image.
 */
export async function ensureCorednsImage(opts: { signal?: AbortSignal } = {}): Promise<string> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile('bash', [BUILD_SCRIPT], { timeout: 30 * 60_000, maxBuffer: 16 * 1024 * 1024, ...(opts.signal ? { signal: opts.signal } : {}) }, (err, stdout, stderr) => {
      if (err) reject(new DockerletError(ErrorCodes.CONTROL_PLANE, `scripts/build-coredns.sh failed: ${String(stderr).trim().slice(-3000) || err.message}`));
      else resolve(String(stdout));
    });
  });
  return out.trim().split('\n').pop() ?? '';
}

interface PodList {
  items: { metadata: { name: string; deletionTimestamp?: string }; status?: { podIP?: string; conditions?: { type: string; status: string }[] } }[];
}

/** Applies cluster DNS and waits until every ready CoreDNS pod answers for kubernetes.default.svc.<domain>. */
export async function deployClusterDns(opts: ClusterDnsOptions): Promise<void> {
  const kubectl = (args: string[], input?: string) =>
    run(opts.kubectl ?? process.env.KUBECTL ?? 'kubectl', ['--kubeconfig', opts.kubeconfig, '--request-timeout=30s', ...args], input, opts.signal);
  const objects = renderClusterDns(readFileSync(COREDNS_MANIFEST, 'utf8'), opts);
  await kubectl(['apply', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
  const domain = opts.domain ?? DEFAULT_CLUSTER_DOMAIN;
  const kubernetesIP = (await kubectl(['get', 'service', 'kubernetes', '-n', 'default', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const query = opts.query ?? queryA;
  const name = `kubernetes.default.svc.${domain}`;
  let status = '';
  await waitFor(`CoreDNS (kube-system/kube-dns) answering ${name}`, async () => {
    const pods = JSON.parse(await kubectl(['get', 'pods', '-n', 'kube-system', '-l', 'k8s-app=kube-dns', '-o', 'json'])) as PodList;
    const ready = pods.items.filter((p) => !p.metadata.deletionTimestamp && p.status?.podIP &&
      p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    status = pods.items.map((p) => `${p.metadata.name}:${p.status?.podIP ?? '-'}:${ready.includes(p) ? 'ready' : 'not-ready'}`).join(' ');
    if (ready.length === 0) return false;
    for (const p of ready) {
      const ips = await query(p.status!.podIP!, name).catch((err: unknown) => {
        status += ` ${p.status!.podIP}: ${errorMessage(err)}`;
        return [] as string[];
      });
      if (!ips.includes(kubernetesIP)) return false;
    }
    return true;
  }, { deadline: Date.now() + (opts.timeoutMs ?? 120_000), intervalMs: 1000, ...(opts.signal ? { signal: opts.signal } : {}) })
    .catch((err: unknown) => {
      throw new DockerletError(ErrorCodes.CONTROL_PLANE, `${errorMessage(err)}; pods: ${status || 'none'}`, { cause: err });
    });
}
