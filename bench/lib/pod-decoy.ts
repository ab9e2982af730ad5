// The control plane's own share of a density run, given to the raw-Docker arm too. On this 2-vCPU host
// the control plane cannot be kept off dockerd's CPUs: measured here, a busy loop at nice 19 in an
// autogroup of its own (as the bench sets the control plane) still slowed 100 raw-Docker pairs by 13 %
// at half a core and 29 % at a full core (the vCPUs share a physical core; priority cannot help there).
// So the raw-Docker arm runs while the control plane does what it does in the agent's arm for its own
// part: a Deployment of the same pods scaled 0 → N (the ReplicaSet controller creates them, the scheduler
// binds them, the apiserver and etcd store them, the bench's watch sees them), bound to a decoy Node no
// agent serves (a tainted Node object only; its pods are deleted after the run). What a kubelet adds to
// the control plane (its pod status writes and what they trigger, its Events, its token requests) is
// replayed for the decoy pods by pod-decoy-kubelet.ts (--baseline-load kubelet); without it those pods
// stay Pending and that work is in the agent's arm only.
import type Dockerode from 'dockerode';
import type { Pod } from '../../kube/api.js';
import { imageRefFor } from '../../runtime/docker/observe.js';
import { DecoyKubeletProcess } from './pod-decoy-kubelet-proc.js';
import { setNice } from './pod-nice.js';
import { BUSYBOX, benchPodSpec, createDeployment, scaleDeployment, type PhaseCtx } from './pod-phases.js';

export const DECOY = 'decoy';
const TAINT = 'dockerlet.io/bench-decoy';

export interface Decoy {
  node: string;
  /** Replays the kubelet's writes for the decoy pods (--baseline-load kubelet), in a child process. */
  kubelet?: DecoyKubeletProcess;
}

export interface DecoyKubeletOptions {
  /** Mints the decoy Node's client credentials (the harness's ControlPlane.mintNodeCredentials). */
  mintNodeCredentials(node: string): Promise<{ kubeconfigPath: string }>;
  docker: Dockerode;
  /** The child's nice (its session's autogroup too), as the control plane's; 0 leaves it. */
  nice: number;
}

/**
 * The decoy Node (tainted so only decoy pods land there) and its Deployment at 0 replicas; with
 * `kubelet`, a decoy kubelet (the Node's own credentials) that replays the kubelet's writes for them.
 */
export async function createDecoy(ctx: PhaseCtx, node: string, kubelet?: DecoyKubeletOptions): Promise<Decoy> {
  await ctx.admin.create('/api/v1/nodes', {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: node, labels: { 'kubernetes.io/hostname': node, 'kubernetes.io/os': 'linux' } },
    spec: { taints: [{ key: TAINT, effect: 'NoSchedule' }] },
  });
  const capacity = { cpu: '64', memory: '256Gi', pods: '1000', 'ephemeral-storage': '1Ti' };
  const now = new Date().toISOString();
  await ctx.admin.patch(`/api/v1/nodes/${node}/status`, {
    status: {
      capacity, allocatable: capacity,
      conditions: [{ type: 'Ready', status: 'True', reason: 'BenchDecoy', message: 'a Node object without an agent (pod-startup bench)', lastHeartbeatTime: now, lastTransitionTime: now }],
    },
  }, 'merge');
  const spec: Pod['spec'] = { ...benchPodSpec(), nodeSelector: { 'kubernetes.io/hostname': node }, tolerations: [{ operator: 'Exists' }] };
  await createDeployment(ctx, DECOY, spec);
  if (!kubelet) return { node };
  const creds = await kubelet.mintNodeCredentials(node);
  const image = await kubelet.docker.getImage(BUSYBOX).inspect();
  const k = await DecoyKubeletProcess.start(creds.kubeconfigPath, node, imageRefFor(image.Id, image.RepoDigests));
  try {
    if (kubelet.nice > 0) setNice([k.pid], kubelet.nice);
  } catch (err) {
    await k.stop();
    throw err;
  }
  return { node, kubelet: k };
}

export async function scaleDecoy(ctx: PhaseCtx, replicas: number): Promise<void> {
  await scaleDeployment(ctx, replicas, DECOY);
}

/** Scales the decoy to 0 and deletes its pods at once (no agent will confirm them); waits until the watch has none. */
export async function drainDecoy(ctx: PhaseCtx, timeoutMs: number): Promise<boolean> {
  await scaleDecoy(ctx, 0);
  await ctx.admin.delete(`/api/v1/namespaces/${ctx.namespace}/pods`, { query: { labelSelector: `bench=${DECOY}`, gracePeriodSeconds: 0 } }).catch(() => undefined);
  try {
    await ctx.watch.until('decoy pods deleted', () => ctx.watch.pods().every((p) => p.metadata.labels?.bench !== DECOY), timeoutMs);
    return true;
  } catch {
    return false;
  }
}
