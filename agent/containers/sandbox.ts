// Pod → SandboxSpec (the pause container holding the pod's network): identity, hostname, host ports, DNS.
import type { Pod } from '../../kube/api.js';
import type { PortBinding, SandboxSpec } from '../../runtime/types.js';
import { podDns, type DnsOptions } from './dns.js';
import { valueHash } from './hash.js';

export interface SandboxOptions extends DnsOptions {
  /** Sandbox attempt (0 for the first sandbox of the pod, +1 per recreation). */
  attempt?: number;
  cgroupParent?: string;
  /** Docker network of the node's pod CIDR (agent/network); the default bridge when absent. */
  network?: string;
}

export const HOSTNAME_MAX_LEN = 63;

/** GeneratePodHostNameAndDomain's hostname: spec.hostname or the pod name, cut to 63 chars without a trailing '-'/'.'. */
export function podHostname(pod: Pod): string {
  const name = pod.spec.hostname || pod.metadata.name || '';
  if (name.length <= HOSTNAME_MAX_LEN) return name;
  return name.slice(0, HOSTNAME_MAX_LEN).replace(/[-.]+$/, '');
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
    hostname: podHostname(pod),
    hostNetwork: pod.spec.hostNetwork === true,
    portBindings: podPortBindings(pod),
  };
  const dns = podDns(pod, opts);
  if (dns) spec.dns = dns;
  if (pod.metadata.labels && Object.keys(pod.metadata.labels).length) spec.labels = { ...pod.metadata.labels };
  if (opts.cgroupParent) spec.cgroupParent = opts.cgroupParent;
  if (opts.network && !spec.hostNetwork) spec.network = opts.network;
  return spec;
}
