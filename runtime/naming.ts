// Docker names and labels for managed containers, as dockershim laid them out
// (pkg/kubelet/dockershim/naming.go, labels.go), plus dockerlet-owned labels that let the agent
// adopt containers after a restart. Pure functions only.
import type { ContainerIdentity, ContainerKind } from './types.js';

export const Labels = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
  dockerType: 'io.kubernetes.docker.type',
  sandboxId: 'io.kubernetes.sandbox.id',
  kind: 'io.dockerlet.kind',
  attempt: 'io.dockerlet.attempt',
  restartCount: 'io.dockerlet.restart-count',
  specHash: 'io.dockerlet.spec-hash',
  /** The node (agent) that owns the container: an agent adopts and collects only its own. */
  node: 'io.dockerlet.node',
} as const;

/** Prefix under which annotations are stored as Docker labels (as dockershim did). */
export const ANNOTATION_PREFIX = 'annotation.';
/** Where a container's termination message is read from when its spec names no path. */
export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/** The Kubernetes container name of a pod sandbox. */
export const SANDBOX_CONTAINER_NAME = 'POD';
const NAME_PREFIX = 'k8s';
const KINDS: readonly ContainerKind[] = ['sandbox', 'init', 'container'];

/** The parts of a Docker name `k8s_<container>_<pod>_<ns>_<uid>_<attempt>`. */
export interface ParsedDockerName {
  containerName: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  attempt: number;
}

/** `k8s_<container>_<pod>_<ns>_<uid>_<attempt>`; the sandbox's container name is 'POD'. */
export function dockerName(id: ContainerIdentity): string {
  const container = id.kind === 'sandbox' ? SANDBOX_CONTAINER_NAME : id.containerName;
  return [NAME_PREFIX, container, id.podName, id.podNamespace, id.podUid, String(id.attempt)].join('_');
}

/** Parses a Docker name (with or without the leading '/'); undefined when it is not ours. */
export function parseDockerName(name: string): ParsedDockerName | undefined {
  const parts = name.replace(/^\//, '').split('_');
  if (parts.length !== 6 || parts[0] !== NAME_PREFIX) return undefined;
  const [, containerName, podName, podNamespace, podUid, attemptText] = parts as [string, string, string, string, string, string];
  const attempt = parseNonNegativeInt(attemptText);
  if (attempt === undefined || !containerName || !podName || !podNamespace || !podUid) return undefined;
  return { containerName, podName, podNamespace, podUid, attempt };
}

/** The labels stamped on a managed container: identity, dockerlet bookkeeping and annotations. */
export function labelsFor(id: ContainerIdentity, annotations: Record<string, string> = {}): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) labels[ANNOTATION_PREFIX + k] = v;
  labels[Labels.podName] = id.podName;
  labels[Labels.podNamespace] = id.podNamespace;
  labels[Labels.podUid] = id.podUid;
  labels[Labels.containerName] = id.kind === 'sandbox' ? SANDBOX_CONTAINER_NAME : id.containerName;
  labels[Labels.dockerType] = id.kind === 'sandbox' ? 'podsandbox' : 'container';
  labels[Labels.kind] = id.kind;
  labels[Labels.attempt] = String(id.attempt);
  labels[Labels.restartCount] = String(id.restartCount);
  labels[Labels.specHash] = id.specHash;
  return labels;
}

/**
 * Reads the identity back from labels. Returns undefined when the pod identity or container name is
 * missing. Containers made by other tools (dockershim) lack the dockerlet labels: kind falls back to
 * io.kubernetes.docker.type, attempt/restartCount to 0 (or `fallback`, e.g. parsed from the name).
 */
export function identityFromLabels(
  labels: Record<string, string> | undefined,
  fallback?: Partial<ParsedDockerName>,
): ContainerIdentity | undefined {
  if (!labels) return undefined;
  const podUid = labels[Labels.podUid] ?? fallback?.podUid;
  const podName = labels[Labels.podName] ?? fallback?.podName;
  const podNamespace = labels[Labels.podNamespace] ?? fallback?.podNamespace;
  const containerName = labels[Labels.containerName] ?? fallback?.containerName;
  if (!podUid || !podName || !podNamespace || !containerName) return undefined;
  const kind = kindOf(labels);
  return {
    podUid,
    podName,
    podNamespace,
    containerName,
    kind,
    attempt: parseNonNegativeInt(labels[Labels.attempt]) ?? fallback?.attempt ?? 0,
    restartCount: parseNonNegativeInt(labels[Labels.restartCount]) ?? 0,
    specHash: labels[Labels.specHash] ?? '',
  };
}

/** The annotations stored as `annotation.<key>` labels. */
export function annotationsFromLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (k.startsWith(ANNOTATION_PREFIX) && k.length > ANNOTATION_PREFIX.length) out[k.slice(ANNOTATION_PREFIX.length)] = v;
  }
  return out;
}

function kindOf(labels: Record<string, string>): ContainerKind {
  const k = labels[Labels.kind];
  if (k && (KINDS as readonly string[]).includes(k)) return k as ContainerKind;
  return labels[Labels.dockerType] === 'podsandbox' ? 'sandbox' : 'container';
}

function parseNonNegativeInt(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,9}$/.test(s)) return undefined;
  return Number(s);
}
