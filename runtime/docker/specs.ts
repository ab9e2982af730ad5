// Pure translation of SandboxSpec / ContainerCreateSpec into Docker Engine create options.
import type Dockerode from 'dockerode';
import { DEFAULT_TERMINATION_MESSAGE_PATH, dockerName, Labels, labelsFor } from '../naming.js';
import type { ContainerCreateSpec, PortBinding, SandboxSpec } from '../types.js';

/** Annotation naming the in-container path of the termination message (dockershim's key). */
export const TERMINATION_MESSAGE_PATH_ANNOTATION = 'io.kubernetes.container.terminationMessagePath';
/** oom_score_adj of the pod infra container (kubelet qos.PodInfraOOMAdj). */
export const SANDBOX_OOM_SCORE_ADJ = -998;
/** Kubelet defaults containerLogMaxSize 10Mi / containerLogMaxFiles 5, as json-file options. */
export const LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } } as const;

type CreateOptions = Dockerode.ContainerCreateOptions;

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
export function sandboxCreateOptions(spec: SandboxSpec): CreateOptions {
  const { exposed, bindings } = portBindings(spec.portBindings);
  const opts: CreateOptions = {
    name: dockerName(spec.identity),
    Image: spec.image,
    Labels: { ...(spec.labels ?? {}), ...labelsFor(spec.identity, {}) },
    ExposedPorts: exposed,
    HostConfig: {
      NetworkMode: spec.hostNetwork ? 'host' : (spec.network ?? 'bridge'),
      IpcMode: 'shareable',
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
  if (spec.cgroupParent) opts.HostConfig!.CgroupParent = spec.cgroupParent;
  return opts;
}

/**
 * Create options for an app or init container joined to its sandbox. Kubernetes semantics:
 * `command` replaces the image ENTRYPOINT (and drops its CMD), `args` replaces CMD; with only
 * `args` the image's ENTRYPOINT stays. Docker copies the image's STOPSIGNAL into the container.
 */
export function containerCreateOptions(spec: ContainerCreateSpec): CreateOptions {
  const sandbox = `container:${spec.sandboxId}`;
  const binds = spec.mounts.map((m) => `${m.hostPath}:${m.containerPath}${m.readOnly ? ':ro' : ''}`);
  if (spec.terminationMessageHostPath) {
    const inside = spec.annotations[TERMINATION_MESSAGE_PATH_ANNOTATION] || DEFAULT_TERMINATION_MESSAGE_PATH;
    binds.push(`${spec.terminationMessageHostPath}:${inside}`);
  }
  const r = spec.resources;
  const host: NonNullable<CreateOptions['HostConfig']> = {
    NetworkMode: sandbox,
    IpcMode: sandbox,
    Binds: binds,
    RestartPolicy: { Name: 'no' },
    Init: false,
    LogConfig: { ...LOG_CONFIG, Config: { ...LOG_CONFIG.Config } },
    Privileged: spec.privileged ?? false,
    ReadonlyRootfs: spec.readOnlyRootfs ?? false,
  };
  if (spec.sharePid) host.PidMode = sandbox;
  if (spec.tmpfs?.length) {
    host.Tmpfs = {};
    for (const t of spec.tmpfs) host.Tmpfs[t.containerPath] = t.sizeBytes ? `rw,exec,size=${t.sizeBytes}` : 'rw,exec';
  }
  if (r.cpuShares !== undefined) host.CpuShares = r.cpuShares;
  if (r.cpuQuota !== undefined) host.CpuQuota = r.cpuQuota;
  if (r.cpuPeriod !== undefined) host.CpuPeriod = r.cpuPeriod;
  if (r.memoryLimitBytes !== undefined && r.memoryLimitBytes > 0) {
    host.Memory = r.memoryLimitBytes;
    host.MemorySwap = r.memoryLimitBytes;
  }
  if (r.oomScoreAdj !== undefined) host.OomScoreAdj = r.oomScoreAdj;
  if (spec.capAdd?.length) host.CapAdd = [...spec.capAdd];
  if (spec.capDrop?.length) host.CapDrop = [...spec.capDrop];

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
