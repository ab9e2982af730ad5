// Pure translation of SandboxSpec / ContainerCreateSpec into Docker Engine create options, as
// dockershim/cri-dockerd map the CRI configs (security_context.go: user/groups, no-new-privileges,
// seccomp/apparmor/SELinux security opts, masked paths; sandbox sysctls and host namespaces; cgroup parent).
import type Dockerode from 'dockerode';
import { DEFAULT_TERMINATION_MESSAGE_PATH, dockerName, Labels, labelsFor } from '../naming.js';
import type { ContainerCreateSpec, PortBinding, Resources, SandboxSpec, SecurityProfile } from '../types.js';

/** Annotation naming the in-container path of the termination message (dockershim's key). */
export const TERMINATION_MESSAGE_PATH_ANNOTATION = 'io.kubernetes.container.terminationMessagePath';
/** oom_score_adj of the pod infra container (kubelet qos.PodInfraOOMAdj). */
export const SANDBOX_OOM_SCORE_ADJ = -998;
/** Kubelet defaults containerLogMaxSize 10Mi / containerLogMaxFiles 5, as json-file options. */
export const LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } } as const;

type CreateOptions = Dockerode.ContainerCreateOptions;

/** Facts of the Docker host the translation needs (filled by the runtime). */
export interface DockerHostFacts {
  /** Docker's cgroup driver: with systemd a cgroupfs-style parent becomes a slice. */
  cgroupDriver?: string;
  /**
   * Capabilities to grant instead of Privileged when the daemon cannot grant every capability (no
   * CAP_SYS_RESOURCE in its bounding set: runc fails "unable to apply caps"): the bounding set's caps.
   */
  privilegedCaps?: string[];
  /** With privilegedCaps: the host's device nodes (Docker's privileged mode gives the container all of them). */
  hostDevices?: string[];
  /** Contents of Localhost seccomp profiles, by the spec's localhost/<path>. */
  seccompProfiles?: Record<string, string>;
  /** docker info DockerRootDir: a container's files are under <root>/containers/<id>. */
  rootDir?: string;
}

/**
 * A cgroupfs path as the systemd driver's slice (kubelet cgroup_manager_linux.go ToSystemd):
 * /kubepods/burstable/pod<uid> → kubepods-burstable-pod<uid with '-' → '_'>.slice.
 */
export function systemdSlice(cgroupfsPath: string): string {
  const parts = cgroupfsPath.split('/').filter(Boolean).map((p) => p.replace(/-/g, '_'));
  if (!parts.length) return '-.slice';
  return `${parts.join('-')}.slice`;
}

function cgroupParentFor(path: string, facts: DockerHostFacts): string {
  return facts.cgroupDriver === 'systemd' && !path.endsWith('.slice') ? systemdSlice(path) : path;
}

function profileOpt(kind: 'seccomp' | 'apparmor', p: SecurityProfile, facts: DockerHostFacts): string | undefined {
  if (p === 'runtime/default') return undefined;
  if (p === 'unconfined') return `${kind}=unconfined`;
  const ref = p.slice('localhost/'.length);
  if (kind === 'apparmor') return `apparmor=${ref}`;
  const json = facts.seccompProfiles?.[p];
  return `seccomp=${json ?? ref}`;
}

/**
 * The kubelet's verifyRunAsNonRoot (security_context_others.go) against the image's USER (Docker's Config.User, "user[:group]"): an empty or 0 uid
 * is root, a name cannot be verified. Returns the error message, or undefined when allowed.
 */
export function nonRootViolation(imageUser: string | undefined, pod: string, container: string): string | undefined {
  const user = (imageUser ?? '').split(':')[0]!;
  if (user === '') return `container has runAsNonRoot and image will run as root (pod: "${pod}", container: ${container})`;
  if (!/^\d+$/.test(user)) {
    return `container has runAsNonRoot and image has non-numeric user (${user}), cannot verify user is non-root (pod: "${pod}", container: ${container})`;
  }
  const uid = Number(user);
  if (uid === 0) return `container has runAsNonRoot and image will run as root (pod: "${pod}", container: ${container})`;
  if (uid > 2147483647) {
    return `container has runAsNonRoot and image has an invalid user id (${uid}). (Must be 1-(2147483647)): must be between 0 and 2147483647, inclusive (pod: "${pod}", container: ${container})`;
  }
  return undefined;
}

/** Docker SecurityOpt entries for a container spec. */
export function securityOpts(spec: ContainerCreateSpec, facts: DockerHostFacts = {}): string[] {
  const out: string[] = [];
  if (spec.noNewPrivileges) out.push('no-new-privileges');
  if (spec.seccomp) {
    const o = profileOpt('seccomp', spec.seccomp, facts);
    if (o) out.push(o);
  }
  if (spec.appArmor) {
    const o = profileOpt('apparmor', spec.appArmor, facts);
    if (o) out.push(o);
  }
  const se = spec.seLinux;
  if (se?.user) out.push(`label=user:${se.user}`);
  if (se?.role) out.push(`label=role:${se.role}`);
  if (se?.type) out.push(`label=type:${se.type}`);
  if (se?.level) out.push(`label=level:${se.level}`);
  return out;
}

/** `<containerPort>/<proto>` → bindings; only ports with a hostPort are published. */
export function portBindings(ports: PortBinding[]): {
  exposed: Record<string, object>;
  bindings: Record<string, { HostIp: string; HostPort: string }[]>;
} {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of ports) {
    const key = `${p.containerPort}/${p.protocol.toLowerCase()}`;
    exposed[key] = {};
    if (!p.hostPort || p.hostPort <= 0) continue;
    (bindings[key] ??= []).push({ HostIp: p.hostIP ?? '', HostPort: String(p.hostPort) });
  }
  return { exposed, bindings };
}

/** Create options for the pause container that holds the pod's network and IPC namespaces. */
export function sandboxCreateOptions(spec: SandboxSpec, facts: DockerHostFacts = {}): CreateOptions {
  const { exposed, bindings } = portBindings(spec.portBindings);
  const opts: CreateOptions = {
    name: dockerName(spec.identity),
    Image: spec.image,
    Labels: { ...(spec.labels ?? {}), ...labelsFor(spec.identity, {}) },
    ExposedPorts: exposed,
    HostConfig: {
      NetworkMode: spec.hostNetwork ? 'host' : (spec.network ?? 'bridge'),
      IpcMode: spec.hostIpc ? 'host' : 'shareable',
      PortBindings: bindings,
      RestartPolicy: { Name: 'no' },
      Init: false,
      OomScoreAdj: SANDBOX_OOM_SCORE_ADJ,
      LogConfig: { ...LOG_CONFIG, Config: { ...LOG_CONFIG.Config } },
    },
  };
  // A host-network pod takes the node's hostname (Docker refuses Hostname together with UTSMode host).
  if (spec.hostNetwork) opts.HostConfig!.UTSMode = 'host';
  else opts.Hostname = spec.hostname;
  if (spec.dns) {
    opts.HostConfig!.Dns = [...spec.dns.servers];
    opts.HostConfig!.DnsSearch = [...spec.dns.searches];
    opts.HostConfig!.DnsOptions = [...spec.dns.options];
  }
  if (spec.cgroupParent) opts.HostConfig!.CgroupParent = cgroupParentFor(spec.cgroupParent, facts);
  if (spec.hostPid) opts.HostConfig!.PidMode = 'host';
  if (spec.sysctls && Object.keys(spec.sysctls).length) opts.HostConfig!.Sysctls = { ...spec.sysctls };
  return opts;
}

/**
 * Create options for an app or init container joined to its sandbox. Kubernetes semantics:
 * `command` replaces the image ENTRYPOINT (and drops its CMD), `args` replaces CMD; with only
 * `args` the image's ENTRYPOINT stays. Docker copies the image's STOPSIGNAL into the container.
 */
export function containerCreateOptions(spec: ContainerCreateSpec, facts: DockerHostFacts = {}): CreateOptions {
  const sandbox = `container:${spec.sandboxId}`;
  const binds = spec.mounts.map((m) => `${m.hostPath}:${m.containerPath}${m.readOnly ? ':ro' : ''}`);
  for (const f of spec.files ?? []) binds.push(`${f.hostPath}:${f.containerPath}`);
  if (spec.terminationMessageHostPath) {
    const inside = spec.annotations[TERMINATION_MESSAGE_PATH_ANNOTATION] || DEFAULT_TERMINATION_MESSAGE_PATH;
    binds.push(`${spec.terminationMessageHostPath}:${inside}`);
  }
  const r = spec.resources;
  const host: NonNullable<CreateOptions['HostConfig']> = {
    NetworkMode: sandbox,
    IpcMode: spec.hostIpc ? 'host' : sandbox,
    Binds: binds,
    RestartPolicy: { Name: 'no' },
    Init: false,
    LogConfig: { ...LOG_CONFIG, Config: { ...LOG_CONFIG.Config } },
    Privileged: spec.privileged ?? false,
    ReadonlyRootfs: spec.readOnlyRootfs ?? false,
  };
  if (spec.hostPid) host.PidMode = 'host';
  else if (spec.pidContainerId) host.PidMode = `container:${spec.pidContainerId}`;
  else if (spec.sharePid) host.PidMode = sandbox;
  if (spec.tmpfs?.length) {
    host.Tmpfs = {};
    for (const t of spec.tmpfs) host.Tmpfs[t.containerPath] = t.sizeBytes ? `rw,exec,size=${t.sizeBytes}` : 'rw,exec';
  }
  Object.assign(host, containerUpdateOptions(r));
  if (r.oomScoreAdj !== undefined) host.OomScoreAdj = r.oomScoreAdj;
  if (spec.capAdd?.length) host.CapAdd = [...spec.capAdd];
  if (spec.capDrop?.length) host.CapDrop = [...spec.capDrop];
  if (spec.groupAdd?.length) host.GroupAdd = spec.groupAdd.map(String);
  if (spec.cgroupParent) host.CgroupParent = cgroupParentFor(spec.cgroupParent, facts);
  const secOpts = securityOpts(spec, facts);
  if (spec.privileged && facts.privilegedCaps) {
    // Privileged as far as the daemon can grant it: every capability it holds, no seccomp/AppArmor
    // confinement, /proc and /sys paths unmasked (what the CLI's systempaths=unconfined sends).
    host.Privileged = false;
    host.CapAdd = [...new Set([...facts.privilegedCaps, ...(host.CapAdd ?? [])])];
    delete host.CapDrop;
    secOpts.push('seccomp=unconfined', 'apparmor=unconfined');
    host.Devices = (facts.hostDevices ?? []).map((p) => ({ PathOnHost: p, PathInContainer: p, CgroupPermissions: 'rwm' }));
    (host as Record<string, unknown>).DeviceCgroupRules = ['c *:* rwm', 'b *:* rwm'];
  }
  if (secOpts.length) host.SecurityOpt = secOpts;
  if (spec.unmaskedProc || (spec.privileged && facts.privilegedCaps)) {
    (host as Record<string, unknown>).MaskedPaths = [];
    (host as Record<string, unknown>).ReadonlyPaths = [];
  }

  const opts: CreateOptions = {
    name: dockerName(spec.identity),
    Image: spec.image,
    Env: spec.env.map((e) => `${e.name}=${e.value}`),
    Labels: { ...labelsFor(spec.identity, spec.annotations), [Labels.sandboxId]: spec.sandboxId },
    Tty: spec.tty ?? false,
    OpenStdin: spec.stdin ?? false,
    StdinOnce: spec.stdinOnce ?? false,
    AttachStdin: spec.stdin ?? false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: host,
  };
  if (spec.command?.length) opts.Entrypoint = [...spec.command];
  if (spec.args?.length) opts.Cmd = [...spec.args];
  if (spec.workingDir) opts.WorkingDir = spec.workingDir;
  if (spec.user) opts.User = spec.user;
  return opts;
}

/** The body of POST /containers/{id}/update for a resize: the same fields create sets (memory swap = memory). */
export function containerUpdateOptions(r: Resources): Record<string, number> {
  const out: Record<string, number> = {};
  if (r.cpuShares !== undefined) out.CpuShares = r.cpuShares;
  if (r.cpuQuota !== undefined) out.CpuQuota = r.cpuQuota;
  if (r.cpuPeriod !== undefined) out.CpuPeriod = r.cpuPeriod;
  if (r.memoryLimitBytes !== undefined && r.memoryLimitBytes > 0) {
    out.Memory = r.memoryLimitBytes;
    out.MemorySwap = r.memoryLimitBytes;
  }
  return out;
}
