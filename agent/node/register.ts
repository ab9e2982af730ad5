// Node registration as the kubelet's registerWithAPIServer: POST the Node; on AlreadyExists GET it and
// reconcile the labels the node may set (never taints: NodeRestriction forbids a node changing its own
// taints); then PATCH the status. Transient failures retry with 100 ms → 7 s back-off.
import type { Node, Taint } from '../../kube/api.js';
import { isAlreadyExists, isNotFound, isTransient } from '../../kube/errors.js';
import type { KubeClient } from '../../kube/types.js';
import { sleepFor, systemClock, type Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { partLogger, type Logger } from '../../lib/log.js';
import type { NodeStatus } from './status.js';

export const LABEL_HOSTNAME = 'kubernetes.io/hostname';
export const LABEL_OS = 'kubernetes.io/os';
export const LABEL_ARCH = 'kubernetes.io/arch';
export const ANNOTATION_CONTROLLER_ATTACH_DETACH = 'volumes.kubernetes.io/controller-managed-attach-detach';

/** Labels a kubelet may set on its own Node under NodeRestriction (k8s.io/kubelet IsKubeletLabel). */
const KUBELET_LABELS = new Set([
  LABEL_HOSTNAME, LABEL_OS, LABEL_ARCH, 'beta.kubernetes.io/os', 'beta.kubernetes.io/arch',
  'topology.kubernetes.io/zone', 'topology.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/region',
  'beta.kubernetes.io/instance-type', 'node.kubernetes.io/instance-type',
]);
const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];

function labelNamespace(key: string): string {
  const i = key.indexOf('/');
  return i < 0 ? '' : key.slice(0, i);
}

function inDomain(ns: string, domain: string): boolean {
  return ns === domain || ns.endsWith(`.${domain}`);
}

/** True when NodeRestriction lets a node set this label on itself. */
export function isKubeletLabel(key: string): boolean {
  if (KUBELET_LABELS.has(key)) return true;
  const ns = labelNamespace(key);
  if (inDomain(ns, 'node-restriction.kubernetes.io')) return false;
  if (KUBELET_LABEL_NAMESPACES.some((d) => inDomain(ns, d))) return true;
  return !(inDomain(ns, 'kubernetes.io') || inDomain(ns, 'k8s.io'));
}

/** Problems with configured node labels (empty = fine), as the kubelet validates --node-labels. */
export function validateNodeLabels(labels: Record<string, string>): string[] {
  const errs: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (!/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(k)) errs.push(`invalid label key ${JSON.stringify(k)}`);
    else if (!isKubeletLabel(k)) errs.push(`label ${k} is in a kubernetes.io/k8s.io namespace a node may not set`);
    if (!/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(v)) errs.push(`invalid label value ${JSON.stringify(v)} for ${k}`);
  }
  return errs;
}

export interface DesiredNode {
  name: string;
  /** Value of kubernetes.io/hostname (default: name). */
  hostname?: string;
  /** Kubernetes architecture name (amd64, arm64, ...). */
  architecture: string;
  /** Configured labels (--node-labels); merged over the defaults. */
  labels?: Record<string, string>;
  /** Applied at creation only. */
  taints?: Taint[];
  unschedulable?: boolean;
  providerID?: string;
  /** Builds the status to send, given the Node as it exists (undefined before creation). */
  status?: (existing: Node | undefined) => NodeStatus;
}

export interface RegisterOptions {
  signal?: AbortSignal;
  clock?: Clock;
  log?: Logger;
  /** Give up after this many attempts (default: keep trying until the signal aborts). */
  maxAttempts?: number;
}

/** The labels the node sets on itself: defaults plus configured ones. */
export function desiredLabels(d: DesiredNode): Record<string, string> {
  return {
    ...d.labels,
    [LABEL_HOSTNAME]: d.hostname ?? d.name,
    [LABEL_OS]: 'linux',
    [LABEL_ARCH]: d.architecture,
  };
}

/** The Node object POSTed at registration (kubelet initialNode). */
export function initialNode(d: DesiredNode): Node {
  const node: Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: d.name,
      labels: desiredLabels(d),
      annotations: { [ANNOTATION_CONTROLLER_ATTACH_DETACH]: 'true' },
    },
    spec: {},
  };
  const spec = node.spec as NonNullable<Node['spec']>;
  if (d.taints?.length) spec.taints = d.taints.map((t) => ({ ...t }));
  if (d.unschedulable) spec.unschedulable = true;
  if (d.providerID) spec.providerID = d.providerID;
  if (d.status) node.status = d.status(undefined);
  return node;
}

/** The metadata patch that brings an existing Node's labels/annotation in line (undefined = none needed). */
export function reconcilePatch(existing: Node, d: DesiredNode): { metadata: Partial<Node['metadata']> } | undefined {
  const want = desiredLabels(d);
  const have = existing.metadata.labels ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(want)) if (have[k] !== v) labels[k] = v;
  const metadata: Partial<Node['metadata']> = {};
  if (Object.keys(labels).length) metadata.labels = labels;
  if (existing.metadata.annotations?.[ANNOTATION_CONTROLLER_ATTACH_DETACH] !== 'true') {
    metadata.annotations = { [ANNOTATION_CONTROLLER_ATTACH_DETACH]: 'true' };
  }
  return Object.keys(metadata).length ? { metadata } : undefined;
}

export function nodePath(name: string): string {
  return `/api/v1/nodes/${encodeURIComponent(name)}`;
}

/** PATCHes nodes/<name>/status with a strategic-merge patch and returns the updated Node. */
export function patchNodeStatus(client: KubeClient, name: string, status: NodeStatus, signal?: AbortSignal): Promise<Node> {
  return client.patch<Node>(`${nodePath(name)}/status`, { status }, 'strategic', signal ? { signal } : undefined);
}

export interface RegisteredNode {
  /** The Node as the API server has it after registration (with uid and the patched status). */
  node: Node;
  /** True when this call created it. */
  created: boolean;
  /** The Node as it existed before (AlreadyExists path), for reboot and transition checks. */
  previous?: Node;
}

async function registerOnce(client: KubeClient, d: DesiredNode, log: Logger, signal?: AbortSignal): Promise<RegisteredNode> {
  const opts = signal ? { signal } : undefined;
  let node: Node;
  let previous: Node | undefined;
  try {
    node = await client.create<Node>('/api/v1/nodes', initialNode(d), opts);
    log.info({ node: d.name, uid: node.metadata.uid }, 'node registered');
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    node = await client.get<Node>(nodePath(d.name), opts);
    previous = node;
    const patch = reconcilePatch(node, d);
    if (patch) {
      node = await client.patch<Node>(nodePath(d.name), patch, 'strategic', opts);
      log.info({ node: d.name, labels: patch.metadata.labels }, 'existing node reconciled');
    } else {
      log.info({ node: d.name, uid: node.metadata.uid }, 'node already registered');
    }
  }
  if (d.status) node = await patchNodeStatus(client, d.name, d.status(node), signal);
  return previous ? { node, created: false, previous } : { node, created: true };
}

/**
 * Registers the Node and returns it as the API server has it (with uid). Retries transient failures
 * (unreachable, 429, 5xx) with back-off 100 ms doubling to 7 s; other API errors (Forbidden, Invalid)
 * throw (KUBE_API, with the cause); labels a node may not set throw CONFIG_INVALID before any request.
 */
export async function registerNode(client: KubeClient, desired: DesiredNode, opts: RegisterOptions = {}): Promise<RegisteredNode> {
  const problems = validateNodeLabels(desired.labels ?? {});
  if (problems.length) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `node labels: ${problems.join('; ')}`, { details: { node: desired.name } });
  }
  const clock = opts.clock ?? systemClock;
  const log = partLogger(opts.log, 'node-registration');
  let delayMs = 100;
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) {
      throw new DockerletError(ErrorCodes.KUBE_API, `registering node ${desired.name}: aborted`, { details: { node: desired.name } });
    }
    try {
      return await registerOnce(client, desired, log, opts.signal);
    } catch (err) {
      // NotFound: the node vanished between POST → AlreadyExists and the GET; start over.
      const retry = isTransient(err) || isNotFound(err);
      if (!retry || opts.signal?.aborted || (opts.maxAttempts !== undefined && attempt >= opts.maxAttempts)) {
        if (err instanceof DockerletError) throw err;
        throw new DockerletError(ErrorCodes.KUBE_API, `registering node ${desired.name}: ${errorMessage(err)}`, {
          cause: err, details: { node: desired.name },
        });
      }
      log.warn({ node: desired.name, attempt, delayMs, err }, 'node registration failed; retrying');
      await sleepFor(clock, delayMs, opts.signal);
      delayMs = Math.min(delayMs * 2, 7000);
    }
  }
}
