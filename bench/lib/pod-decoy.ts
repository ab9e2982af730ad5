// The control plane's own share of a density run, given to the raw-Docker arm too. On this 2-vCPU host
// the control plane cannot be kept off dockerd's CPUs: measured here, a busy loop at nice 19 in an
// autogroup of its own (as the bench sets the control plane) still slowed 100 raw-Docker pairs by 13 %
// at half a core and 29 % at a full core (the vCPUs share a physical core; priority cannot help there).
// So the raw-Docker arm runs while the control plane does what it does in the agent's arm for its own
// part: a Deployment of the same pods scaled 0 → N (the ReplicaSet controller creates them, the scheduler
// binds them, the apiserver and etcd store them, the bench's watch sees them), bound to a decoy Node no
// agent serves (a tainted Node object only; its pods stay Pending and are deleted after the run). What
// the agent adds to the control plane (its pod status writes and what they trigger, its Events, its token
// requests and reads) stays in the agent's arm only.
import type { Pod } from '../../kube/api.js';
import { benchPodSpec, createDeployment, scaleDeployment, type PhaseCtx } from './pod-phases.js';

export const DECOY = 'decoy';
const TAINT = 'dockerlet.io/bench-decoy';

export interface Decoy {
  node: string;
}

/** The decoy Node (tainted so only decoy pods land there) and its Deployment at 0 replicas. */
export async function createDecoy(ctx: PhaseCtx, node: string): Promise<Decoy> {
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
  return { node };
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
