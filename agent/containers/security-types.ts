// The securityContext / host-name fields of core/v1 the kubelet reads (k8s.io/api/core/v1 types.go),
// beyond what kube/api.ts declares. Read through these views so the rest of the agent keeps the narrow types.
import type { Container, Pod } from '../../kube/api.js';

export interface SeccompProfile {
  type: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostProfile?: string;
}

export interface AppArmorProfile {
  type: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostProfile?: string;
}

export interface Sysctl {
  name: string;
  value: string;
}

export interface SELinuxOptions {
  user?: string;
  role?: string;
  type?: string;
  level?: string;
}

export interface PodSecurityContextView {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  fsGroupChangePolicy?: 'OnRootMismatch' | 'Always';
  supplementalGroups?: number[];
  sysctls?: Sysctl[];
  seccompProfile?: SeccompProfile;
  appArmorProfile?: AppArmorProfile;
  seLinuxOptions?: SELinuxOptions;
}

export interface ContainerSecurityContextView {
  privileged?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  procMount?: 'Default' | 'Unmasked';
  seccompProfile?: SeccompProfile;
  appArmorProfile?: AppArmorProfile;
  seLinuxOptions?: SELinuxOptions;
}

export interface HostAlias {
  ip: string;
  hostnames?: string[];
}

export interface PodSpecHostView {
  hostAliases?: HostAlias[];
  setHostnameAsFQDN?: boolean;
}

export function podSecurity(pod: Pod): PodSecurityContextView {
  return (pod.spec.securityContext ?? {}) as PodSecurityContextView;
}

export function containerSecurity(c: Container): ContainerSecurityContextView {
  return (c.securityContext ?? {}) as ContainerSecurityContextView;
}

export function podHostView(pod: Pod): PodSpecHostView {
  return pod.spec as PodSpecHostView;
}
