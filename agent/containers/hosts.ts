// The kubelet-managed /etc/hosts (pkg/kubelet/kubelet_pods.go makeMounts / makeHostsMount /
// managedHostsFileContent / nodeHostsFileContent / hostsEntriesFromHostAliases, GeneratePodHostNameAndDomain):
// one file per pod, <podDir>/etc-hosts, bind-mounted at /etc/hosts into every container that does not
// mount /etc/hosts itself. A pod on the pod network gets the managed content (localhost lines, its IPs
// with hostname/FQDN, then hostAliases); a host-network pod gets the node's /etc/hosts plus hostAliases.
import { join } from 'node:path';
import type { Container, Pod } from '../../kube/api.js';
import type { GeneratedFile } from '../../runtime/types.js';
import { podHostView, type HostAlias } from './security-types.js';

export const ETC_HOSTS_PATH = '/etc/hosts';
export const MANAGED_HOSTS_HEADER = '# Kubernetes-managed hosts file.\n';
export const MANAGED_HOSTS_HEADER_HOST_NETWORK = '# Kubernetes-managed hosts file (host network).\n';
export const HOSTNAME_MAX_LEN = 63;

/** GeneratePodHostNameAndDomain's hostname: spec.hostname or the pod name, cut to 63 chars without a trailing '-'/'.'. */
export function podHostname(pod: Pod): string {
  const name = pod.spec.hostname || pod.metadata.name || '';
  if (name.length <= HOSTNAME_MAX_LEN) return name;
  return name.slice(0, HOSTNAME_MAX_LEN).replace(/[-.]+$/, '');
}

/** The pod's DNS domain: <subdomain>.<namespace>.svc.<clusterDomain> when spec.subdomain is set, else ''. */
export function podDomain(pod: Pod, clusterDomain: string): string {
  if (!pod.spec.subdomain) return '';
  return `${pod.spec.subdomain}.${pod.metadata.namespace ?? 'default'}.svc.${clusterDomain}`;
}

/** hostsEntriesFromHostAliases: a blank line, the marker, then one "ip\tname\tname…" line per alias. */
export function hostAliasEntries(aliases: readonly HostAlias[] | undefined): string {
  if (!aliases?.length) return '';
  let out = '\n# Entries added by HostAliases.\n';
  for (const a of aliases) out += `${a.ip}\t${(a.hostnames ?? []).join('\t')}\n`;
  return out;
}

/** managedHostsFileContent. */
export function managedHostsContent(podIPs: readonly string[], hostname: string, domain: string, aliases?: readonly HostAlias[]): string {
  let out = MANAGED_HOSTS_HEADER;
  out += '127.0.0.1\tlocalhost\n';
  out += '::1\tlocalhost ip6-localhost ip6-loopback\n';
  out += 'fe00::0\tip6-localnet\n';
  out += 'fe00::0\tip6-mcastprefix\n';
  out += 'fe00::1\tip6-allnodes\n';
  out += 'fe00::2\tip6-allrouters\n';
  for (const ip of podIPs) out += domain ? `${ip}\t${hostname}.${domain}\t${hostname}\n` : `${ip}\t${hostname}\n`;
  return out + hostAliasEntries(aliases);
}

/** makeMounts: /etc/hosts is managed unless the container mounts something at /etc/hosts itself. */
export function containerMountsEtcHosts(c: Container): boolean {
  return (c.volumeMounts ?? []).some((m) => m.mountPath.replace(/\/+$/, '') === ETC_HOSTS_PATH);
}

export interface EtcHostsArgs {
  pod: Pod;
  container: Container;
  /** The pod's directory (<root>/pods/<uid>): the file is <podDir>/etc-hosts. */
  podDir: string;
  /** Pod IPs (the sandbox's); none and not host network ⇒ not managed (shouldMountHostsFile). */
  podIPs: readonly string[];
  clusterDomain: string;
  /** The node's hosts file, included for host-network pods. */
  nodeHostsFile?: string;
}

/** The generated /etc/hosts for one container, or undefined when the kubelet would not manage it. */
export function etcHostsFile(a: EtcHostsArgs): GeneratedFile | undefined {
  const hostNetwork = a.pod.spec.hostNetwork === true;
  if (!hostNetwork && a.podIPs.length === 0) return undefined;
  if (containerMountsEtcHosts(a.container)) return undefined;
  const aliases = podHostView(a.pod).hostAliases;
  const hostPath = join(a.podDir, 'etc-hosts');
  if (hostNetwork) {
    return { hostPath, containerPath: ETC_HOSTS_PATH, prefix: MANAGED_HOSTS_HEADER_HOST_NETWORK, includeFile: a.nodeHostsFile ?? ETC_HOSTS_PATH, suffix: hostAliasEntries(aliases) };
  }
  const content = managedHostsContent(a.podIPs, podHostname(a.pod), podDomain(a.pod, a.clusterDomain), aliases);
  return { hostPath, containerPath: ETC_HOSTS_PATH, prefix: content, suffix: '' };
}

/**
 * The sandbox's hostname: the short hostname, or with setHostnameAsFQDN the FQDN (kubelet
 * generatePodSandboxConfig: an FQDN over 64 chars fails the sandbox).
 */
export function sandboxHostname(pod: Pod, clusterDomain: string): string {
  const hostname = podHostname(pod);
  const domain = podDomain(pod, clusterDomain);
  if (!podHostView(pod).setHostnameAsFQDN || !domain) return hostname;
  return `${hostname}.${domain}`;
}
