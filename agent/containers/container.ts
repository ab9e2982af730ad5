// Pod container → ContainerCreateSpec: identity, dockershim-style annotations, resources, security context
// (security.ts), the kubelet-managed /etc/hosts (hosts.ts) and the pod's cgroup parent (cgroups.ts).
import { dirname, join } from 'node:path';
import type { Container, ContainerPort, Pod } from '../../kube/api.js';
import { DEFAULT_TERMINATION_MESSAGE_PATH } from '../../runtime/naming.js';
import type { ContainerCreateSpec, Mount, TmpfsMount } from '../../runtime/types.js';
import { envMap, type EnvVarValue } from './env.js';
import { expandAll } from './expansion.js';
import { containerSpecHash } from './hash.js';
import { etcHostsFile } from './hosts.js';
import { oomScoreAdj } from './qos.js';
import { containerResources, RESOURCES_ANNOTATION, resourcesSnapshot } from './resources.js';
import { sandboxCgroupParent } from './sandbox.js';
import { containerSecurityFields } from './security.js';

export { dockerUser } from './security.js';

export { buildSandboxSpec, podHostname, podPortBindings, sandboxSpecHash, type SandboxOptions } from './sandbox.js';

export const Annotations = {
  hash: 'io.kubernetes.container.hash',
  restartCount: 'io.kubernetes.container.restartCount',
  terminationMessagePath: 'io.kubernetes.container.terminationMessagePath',
  terminationMessagePolicy: 'io.kubernetes.container.terminationMessagePolicy',
  ports: 'io.kubernetes.container.ports',
  type: 'io.kubernetes.container.type',
  preStopHandler: 'io.kubernetes.container.preStopHandler',
  podTerminationGracePeriod: 'io.kubernetes.pod.terminationGracePeriod',
  podDeletionGracePeriod: 'io.kubernetes.pod.deletionGracePeriod',
  /** The requests/limits the container was created with (in-place resize compares against it). */
  resources: RESOURCES_ANNOTATION,
} as const;

export const DEFAULT_TERMINATION_MESSAGE_POLICY = 'File';

export interface ContainerSpecArgs {
  pod: Pod;
  container: Container;
  kind: 'init' | 'container';
  sandboxId: string;
  /** Docker-name attempt (k8s_<c>_<pod>_<ns>_<uid>_<attempt>). */
  attempt: number;
  restartCount: number;
  /** The resolved environment (resolveEnv). command/args are $(VAR)-expanded against it. */
  env: EnvVarValue[];
  mounts: Mount[];
  tmpfs?: TmpfsMount[];
  memoryCapacityBytes: number;
  terminationMessageHostPath?: string;
  /** The image reference to create from (as pulled/resolved). */
  image: string;
  /** The pod's IP (the sandbox's; the node's for hostNetwork): /etc/hosts is managed once it is known. */
  podIP?: string;
  podIPs?: string[];
  /** The pod's directory (<root>/pods/<uid>); default: derived from terminationMessageHostPath. */
  podDir?: string;
  /** Cluster domain for the subdomain FQDN in /etc/hosts (default cluster.local). */
  clusterDomain?: string;
  /** The kubelet root dir: Localhost seccomp profiles are read from <rootDir>/seccomp. */
  rootDir?: string;
  /** cgroupsPerQOS=false: no pod cgroup parent. */
  cgroupsPerQOS?: boolean;
  /** The node's hosts file (host-network pods), default /etc/hosts. */
  nodeHostsFile?: string;
}

/** Ports as Go's json.Marshal([]v1.ContainerPort) writes them (field order, omitempty). */
export function portsAnnotation(ports: ContainerPort[]): string {
  return JSON.stringify(ports.map((p) => {
    const o: Record<string, unknown> = {};
    if (p.name) o.name = p.name;
    if (p.hostPort) o.hostPort = p.hostPort;
    o.containerPort = p.containerPort;
    o.protocol = p.protocol ?? 'TCP';
    if (p.hostIP) o.hostIP = p.hostIP;
    return o;
  }));
}

export function containerAnnotations(pod: Pod, c: Container, kind: 'init' | 'container', restartCount: number): Record<string, string> {
  const a: Record<string, string> = {
    [Annotations.hash]: containerSpecHash(c),
    [Annotations.restartCount]: String(restartCount),
    [Annotations.terminationMessagePath]: c.terminationMessagePath || DEFAULT_TERMINATION_MESSAGE_PATH,
    [Annotations.terminationMessagePolicy]: c.terminationMessagePolicy || DEFAULT_TERMINATION_MESSAGE_POLICY,
    [Annotations.type]: kind,
    [Annotations.resources]: JSON.stringify(resourcesSnapshot(c.resources)),
  };
  if (c.ports?.length) a[Annotations.ports] = portsAnnotation(c.ports);
  if (c.lifecycle?.preStop) a[Annotations.preStopHandler] = JSON.stringify(c.lifecycle.preStop);
  if (pod.spec.terminationGracePeriodSeconds !== undefined) {
    a[Annotations.podTerminationGracePeriod] = String(pod.spec.terminationGracePeriodSeconds);
  }
  if (pod.metadata.deletionGracePeriodSeconds !== undefined) {
    a[Annotations.podDeletionGracePeriod] = String(pod.metadata.deletionGracePeriodSeconds);
  }
  return a;
}

export function buildContainerCreateSpec(args: ContainerSpecArgs): ContainerCreateSpec {
  const { pod, container: c } = args;
  const env = envMap(args.env);
  const specHash = containerSpecHash(c);
  const spec: ContainerCreateSpec = {
    identity: {
      podUid: pod.metadata.uid ?? '',
      podName: pod.metadata.name ?? '',
      podNamespace: pod.metadata.namespace ?? 'default',
      containerName: c.name,
      kind: args.kind,
      attempt: args.attempt,
      restartCount: args.restartCount,
      specHash,
    },
    sandboxId: args.sandboxId,
    image: args.image,
    env: args.env.map((e) => ({ name: e.name, value: e.value })),
    mounts: args.mounts.map((m) => ({ ...m })),
    resources: { ...containerResources(c), oomScoreAdj: oomScoreAdj(pod, c, args.memoryCapacityBytes) },
    annotations: containerAnnotations(pod, c, args.kind, args.restartCount),
  };
  const command = expandAll(c.command, env);
  const cmdArgs = expandAll(c.args, env);
  if (command) spec.command = command;
  if (cmdArgs) spec.args = cmdArgs;
  if (c.workingDir) spec.workingDir = c.workingDir;
  if (args.tmpfs?.length) spec.tmpfs = args.tmpfs.map((t) => ({ ...t }));
  if (c.tty) spec.tty = true;
  if (c.stdin) spec.stdin = true;
  if (c.stdinOnce) spec.stdinOnce = true;
  Object.assign(spec, containerSecurityFields(pod, c, args.rootDir ? { seccompRoot: join(args.rootDir, 'seccomp') } : {}));
  if (pod.spec.hostNetwork) spec.hostNetwork = true;
  if (args.terminationMessageHostPath) spec.terminationMessageHostPath = args.terminationMessageHostPath;
  const podDir = args.podDir ?? podDirOf(args.terminationMessageHostPath);
  const podIPs = args.podIPs?.length ? args.podIPs : args.podIP ? [args.podIP] : [];
  if (podDir) {
    const hosts = etcHostsFile({
      pod, container: c, podDir, podIPs, clusterDomain: args.clusterDomain ?? 'cluster.local',
      ...(args.nodeHostsFile ? { nodeHostsFile: args.nodeHostsFile } : {}),
    });
    if (hosts) spec.files = [hosts];
  }
  const cgroupParent = sandboxCgroupParent(pod, args.cgroupsPerQOS === false ? { cgroupsPerQOS: false } : {});
  if (cgroupParent) spec.cgroupParent = cgroupParent;
  return spec;
}

/** <podDir>/containers/<name>/<restart>/termination-log → <podDir> (apply.ts terminationMessageHostPath). */
function podDirOf(terminationMessageHostPath: string | undefined): string | undefined {
  if (!terminationMessageHostPath) return undefined;
  return dirname(dirname(dirname(dirname(terminationMessageHostPath))));
}
