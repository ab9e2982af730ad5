// securityContext → runtime fields, as the kubelet builds the CRI LinuxContainerSecurityContext
// (pkg/kubelet/kuberuntime/security_context.go determineEffectiveSecurityContext, security_context_others.go
// verifyRunAsNonRoot, helpers.go getSeccompProfile / getAppArmorProfile, pkg/securitycontext
// DetermineEffectiveSecurityContext / AddNoNewPrivileges) and dockershim/cri-dockerd hands it to Docker.
import { readFileSync } from 'node:fs';
import type { Container, Pod } from '../../kube/api.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { ContainerCreateSpec, SecurityProfile } from '../../runtime/types.js';
export { nonRootViolation } from '../../runtime/docker/specs.js';
import {
  containerSecurity, podSecurity, type AppArmorProfile, type SeccompProfile, type SELinuxOptions,
} from './security-types.js';

export const APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

export interface SecurityOptions {
  /** The kubelet's seccomp profile root (<root-dir>/seccomp): Localhost profiles are files under it. */
  seccompRoot?: string;
  /** KubeletConfiguration seccompDefault: RuntimeDefault instead of Unconfined when no profile is set. */
  seccompDefault?: boolean;
}

/** format.Pod: name_namespace(uid). */
export function formatPod(pod: Pod): string {
  return `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? 'default'}(${pod.metadata.uid ?? ''})`;
}

/** The effective context: container fields win over the pod's for user/group/nonRoot/SELinux. */
export function effectiveIdentity(pod: Pod, c: Container): { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean; seLinux?: SELinuxOptions } {
  const p = podSecurity(pod);
  const s = containerSecurity(c);
  const out: { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean; seLinux?: SELinuxOptions } = {};
  const uid = s.runAsUser ?? p.runAsUser;
  const gid = s.runAsGroup ?? p.runAsGroup;
  const nonRoot = s.runAsNonRoot ?? p.runAsNonRoot;
  const se = s.seLinuxOptions ?? p.seLinuxOptions;
  if (uid !== undefined) out.runAsUser = uid;
  if (gid !== undefined) out.runAsGroup = gid;
  if (nonRoot !== undefined) out.runAsNonRoot = nonRoot;
  if (se) out.seLinux = se;
  return out;
}

/**
 * Docker user "uid[:gid]". Only a group: ":gid", which the runtime completes with the image's user (the
 * kubelet sets RunAsUser from the image, so the group never turns the process into root).
 */
export function dockerUser(pod: Pod, c: Container): string | undefined {
  const { runAsUser: uid, runAsGroup: gid } = effectiveIdentity(pod, c);
  if (uid === undefined && gid === undefined) return undefined;
  return gid === undefined ? String(uid) : `${uid ?? ''}:${gid}`;
}

/** verifyRunAsNonRoot's part that needs no image: runAsUser 0 with runAsNonRoot is refused. */
export function checkRunAsNonRoot(pod: Pod, c: Container): 'image' | undefined {
  const { runAsNonRoot, runAsUser } = effectiveIdentity(pod, c);
  if (!runAsNonRoot) return undefined;
  if (runAsUser === undefined) return 'image';
  if (runAsUser === 0) {
    throw new DockerletError(ErrorCodes.CONTAINER_CONFIG,
      `container's runAsUser breaks non-root policy (pod: "${formatPod(pod)}", container: ${c.name})`,
      { details: { container: c.name } });
  }
  return undefined;
}

/** supplementalGroups as the kubelet synthesises them: fsGroup first, then the pod's supplementalGroups. */
export function supplementalGroups(pod: Pod): number[] {
  const p = podSecurity(pod);
  const out: number[] = [];
  if (p.fsGroup !== undefined) out.push(p.fsGroup);
  for (const g of p.supplementalGroups ?? []) out.push(g);
  return out;
}

function profileOf(p: SeccompProfile | AppArmorProfile, root: string | undefined, what: string, container: string): SecurityProfile {
  if (p.type === 'Unconfined') return 'unconfined';
  if (p.type === 'RuntimeDefault') return 'runtime/default';
  if (!p.localhostProfile) {
    throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, `localhostProfile must be set if ${what} type is Localhost`, { details: { container } });
  }
  const ref = root ? `${root.replace(/\/+$/, '')}/${p.localhostProfile}` : p.localhostProfile;
  return `localhost/${ref}`;
}

/** getSeccompProfile: container field, else pod field, else RuntimeDefault (seccompDefault) or Unconfined. */
export function seccompProfile(pod: Pod, c: Container, opts: SecurityOptions = {}): SecurityProfile {
  const p = containerSecurity(c).seccompProfile ?? podSecurity(pod).seccompProfile;
  if (p) return profileOf(p, opts.seccompRoot, 'seccomp', c.name);
  return opts.seccompDefault ? 'runtime/default' : 'unconfined';
}

/** apparmor.GetProfile: the container field, then the (deprecated) beta annotation, then the pod field. */
export function appArmorProfileOf(pod: Pod, c: Container): AppArmorProfile | undefined {
  const own = containerSecurity(c).appArmorProfile;
  if (own) return own;
  const a = pod.metadata.annotations?.[`${APPARMOR_ANNOTATION_PREFIX}${c.name}`];
  if (a === 'unconfined') return { type: 'Unconfined' };
  if (a === 'runtime/default') return { type: 'RuntimeDefault' };
  if (a?.startsWith('localhost/')) return { type: 'Localhost', localhostProfile: a.slice('localhost/'.length) };
  return podSecurity(pod).appArmorProfile;
}

/** getAppArmorProfile for the runtime; undefined = the runtime's default. */
export function appArmorProfile(pod: Pod, c: Container): SecurityProfile | undefined {
  const p = appArmorProfileOf(pod, c);
  return p ? profileOf(p, undefined, 'AppArmor', c.name) : undefined;
}

/** runc's apparmor.IsEnabled: the kernel module says Y. */
export function appArmorEnabled(): boolean {
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').startsWith('Y');
  } catch {
    return false;
  }
}

function allContainers(pod: Pod): Container[] {
  const eph = (pod.spec as { ephemeralContainers?: Container[] }).ephemeralContainers ?? [];
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers, ...eph];
}

/**
 * The kubelet's AppArmor admission (lifecycle.NewAppArmorAdmitHandler + apparmor.Validator): a pod asking
 * for a profile other than Unconfined on a host without AppArmor is refused with reason "AppArmor", as is
 * an empty Localhost profile name. Call it for pods not yet running.
 */
export function appArmorAdmit(pod: Pod, enabled: boolean = appArmorEnabled()): { reason: string; message: string } | undefined {
  const required = (podSecurity(pod).appArmorProfile && podSecurity(pod).appArmorProfile!.type !== 'Unconfined')
    || allContainers(pod).some((c) => { const p = containerSecurity(c).appArmorProfile; return p !== undefined && p.type !== 'Unconfined'; })
    || Object.entries(pod.metadata.annotations ?? {}).some(([k, v]) => k.startsWith(APPARMOR_ANNOTATION_PREFIX) && v !== 'unconfined');
  if (!required) return undefined;
  if (!enabled) return { reason: 'AppArmor', message: 'Cannot enforce AppArmor: AppArmor is not enabled on the host' };
  for (const c of allContainers(pod)) {
    const p = appArmorProfileOf(pod, c);
    if (p?.type === 'Localhost' && !p.localhostProfile?.trim()) {
      return { reason: 'AppArmor', message: `Cannot enforce AppArmor: invalid empty AppArmor profile name: ${JSON.stringify(p)}` };
    }
  }
  return undefined;
}

/** Capability names as Docker takes them ("NET_ADMIN", "ALL"); a "CAP_" prefix is dropped. */
function capName(cap: string): string {
  const up = cap.toUpperCase();
  return up.startsWith('CAP_') ? up.slice(4) : up;
}

type SecurityFields = Pick<ContainerCreateSpec,
  'privileged' | 'user' | 'readOnlyRootfs' | 'capAdd' | 'capDrop' | 'groupAdd' | 'noNewPrivileges' | 'seccomp' | 'appArmor' |
  'unmaskedProc' | 'seLinux' | 'verifyNonRoot' | 'hostPid' | 'hostIpc' | 'sharePid'>;

/** The security part of a container's create spec. Throws CONTAINER_CONFIG for a context the kubelet refuses. */
export function containerSecurityFields(pod: Pod, c: Container, opts: SecurityOptions = {}): SecurityFields {
  const s = containerSecurity(c);
  const out: SecurityFields = {};
  if (checkRunAsNonRoot(pod, c) === 'image') out.verifyNonRoot = { pod: formatPod(pod) };
  const user = dockerUser(pod, c);
  if (user !== undefined) out.user = user;
  const groups = supplementalGroups(pod);
  if (groups.length) out.groupAdd = groups;
  if (s.privileged) out.privileged = true;
  if (s.readOnlyRootFilesystem) out.readOnlyRootfs = true;
  if (s.capabilities?.add?.length) out.capAdd = s.capabilities.add.map(capName);
  if (s.capabilities?.drop?.length) out.capDrop = s.capabilities.drop.map(capName);
  if (s.allowPrivilegeEscalation === false) out.noNewPrivileges = true;
  if (s.procMount === 'Unmasked') out.unmaskedProc = true;
  // Privileged containers run unconfined whatever the profile (Docker ignores both for them).
  if (!s.privileged) {
    const seccomp = seccompProfile(pod, c, opts);
    if (seccomp !== 'runtime/default') out.seccomp = seccomp;
    const apparmor = appArmorProfile(pod, c);
    if (apparmor && apparmor !== 'runtime/default') out.appArmor = apparmor;
  }
  const se = effectiveIdentity(pod, c).seLinux;
  if (se && (se.user || se.role || se.type || se.level)) out.seLinux = { ...se };
  if (pod.spec.hostPID) out.hostPid = true;
  else if (pod.spec.shareProcessNamespace) out.sharePid = true;
  if (pod.spec.hostIPC) out.hostIpc = true;
  return out;
}
