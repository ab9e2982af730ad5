// Pod → SandboxSpec (the pause container holding the pod's network), as the kubelet's
// generatePodSandboxConfig: identity, hostname (setHostnameAsFQDN), host ports, DNS, sysctls, the pod's
// host namespaces (NamespacesForPod) and its cgroup parent (per QoS class).
import type { Pod } from '../../kube/api.js';
import type { PortBinding, SandboxSpec } from '../../runtime/types.js';
import { KUBEPODS_CGROUP, podCgroupParent, podCgroupResources } from './cgroups.js';
import { podDns, type DnsOptions } from './dns.js';
import { valueHash } from './hash.js';
import { podHostname, sandboxHostname } from './hosts.js';
import { sandboxSysctls } from './sysctls.js';

export { podHostname } from './hosts.js';

export interface SandboxOptions extends DnsOptions {
  /** Sandbox attempt (0 for the first sandbox of the pod, +1 per recreation). */
  attempt?: number;
  /** The pod's cgroup parent; default: the kubelet's per-QoS layout under /kubepods (cgroups.ts). */
  cgroupParent?: string;
  /** cgroupsPerQOS=false: containers stay in the runtime's default cgroup. Default true. */
  cgroupsPerQOS?: boolean;
  /** Root of the per-QoS hierarchy (default /kubepods). */
  cgroupRoot?: string;
  /** Docker network of the node's pod CIDR (agent/network); the default bridge when absent. */
  network?: string;
}

/** The pod's cgroup parent under the options (undefined with cgroupsPerQOS=false). */
export function sandboxCgroupParent(pod: Pod, opts: Pick<SandboxOptions, 'cgroupParent' | 'cgroupsPerQOS' | 'cgroupRoot'> = {}): string | undefined {
  if (opts.cgroupParent) return opts.cgroupParent;
  if (opts.cgroupsPerQOS === false) return undefined;
  return podCgroupParent(pod, opts.cgroupRoot ?? KUBEPODS_CGROUP);
}

/** Host port mappings of the pod's containers (hostPort > 0), deduplicated. */
export function podPortBindings(pod: Pod): PortBinding[] {
  if (pod.spec.hostNetwork) return [];
  const seen = new Set<string>();
  const out: PortBinding[] = [];
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort || p.hostPort <= 0) continue;
      const protocol = p.protocol ?? 'TCP';
      const key = `${protocol}/${p.hostIP ?? ''}/${p.containerPort}/${p.hostPort}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const b: PortBinding = { containerPort: p.containerPort, hostPort: p.hostPort, protocol };
      if (p.hostIP) b.hostIP = p.hostIP;
      out.push(b);
    }
  }
  return out;
}

/** Hash of the pod-level fields the sandbox is built from (a change means a new sandbox). */
export function sandboxSpecHash(pod: Pod): string {
  const s = pod.spec as Pod['spec'] & { dnsConfig?: unknown };
  return valueHash({
    hostNetwork: s.hostNetwork, hostPID: s.hostPID, hostIPC: s.hostIPC, hostname: podHostname(pod),
    subdomain: s.subdomain, dnsPolicy: s.dnsPolicy, dnsConfig: s.dnsConfig, ports: podPortBindings(pod),
  });
}

export function buildSandboxSpec(pod: Pod, image: string, opts: SandboxOptions = {}): SandboxSpec {
  const spec: SandboxSpec = {
    identity: {
      podUid: pod.metadata.uid ?? '',
      podName: pod.metadata.name ?? '',
      podNamespace: pod.metadata.namespace ?? 'default',
      containerName: 'POD',
      kind: 'sandbox',
      attempt: opts.attempt ?? 0,
      restartCount: 0,
      specHash: sandboxSpecHash(pod),
    },
    image,
    hostname: sandboxHostname(pod, opts.clusterDomain ?? 'cluster.local'),
    hostNetwork: pod.spec.hostNetwork === true,
    portBindings: podPortBindings(pod),
  };
  const dns = podDns(pod, opts);
  if (dns) spec.dns = dns;
  if (pod.metadata.labels && Object.keys(pod.metadata.labels).length) spec.labels = { ...pod.metadata.labels };
  const cgroupParent = sandboxCgroupParent(pod, opts);
  if (cgroupParent) {
    spec.cgroupParent = cgroupParent;
    spec.podResources = podCgroupResources(pod);
  }
  const sysctls = sandboxSysctls(pod);
  if (sysctls) spec.sysctls = sysctls;
  if (pod.spec.hostPID) spec.hostPid = true;
  if (pod.spec.hostIPC) spec.hostIpc = true;
  if (opts.network && !spec.hostNetwork) spec.network = opts.network;
  return spec;
}
