// Pod container → ContainerCreateSpec: identity, dockershim-style annotations, resources, security context.
import type { Container, ContainerPort, Pod } from '../../kube/api.js';
import { DEFAULT_TERMINATION_MESSAGE_PATH } from '../../runtime/naming.js';
import type { ContainerCreateSpec, Mount, TmpfsMount } from '../../runtime/types.js';
import { envMap, type EnvVarValue } from './env.js';
import { expandAll } from './expansion.js';
import { containerSpecHash } from './hash.js';
import { oomScoreAdj } from './qos.js';
import { containerResources } from './resources.js';

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

/** Docker user "uid[:gid]" from the container's securityContext, falling back to the pod's. */
export function dockerUser(pod: Pod, c: Container): string | undefined {
  const uid = c.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser;
  const gid = c.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup;
  if (uid === undefined && gid === undefined) return undefined;
  // Only a group: Docker takes ":gid" (the user becomes uid 0 rather than the image's USER).
  return gid === undefined ? String(uid) : `${uid ?? ''}:${gid}`;
}

export function containerAnnotations(pod: Pod, c: Container, kind: 'init' | 'container', restartCount: number): Record<string, string> {
  const a: Record<string, string> = {
    [Annotations.hash]: containerSpecHash(c),
    [Annotations.restartCount]: String(restartCount),
    [Annotations.terminationMessagePath]: c.terminationMessagePath || DEFAULT_TERMINATION_MESSAGE_PATH,
    [Annotations.terminationMessagePolicy]: c.terminationMessagePolicy || DEFAULT_TERMINATION_MESSAGE_POLICY,
    [Annotations.type]: kind,
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
  const sc = c.securityContext;
  if (sc?.privileged) spec.privileged = true;
  if (sc?.readOnlyRootFilesystem) spec.readOnlyRootfs = true;
  if (sc?.capabilities?.add?.length) spec.capAdd = [...sc.capabilities.add];
  if (sc?.capabilities?.drop?.length) spec.capDrop = [...sc.capabilities.drop];
  const user = dockerUser(pod, c);
  if (user !== undefined) spec.user = user;
  if (pod.spec.shareProcessNamespace) spec.sharePid = true;
  if (pod.spec.hostNetwork) spec.hostNetwork = true;
  if (args.terminationMessageHostPath) spec.terminationMessageHostPath = args.terminationMessageHostPath;
  return spec;
}
