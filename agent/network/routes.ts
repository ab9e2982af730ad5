// host-gw routes between nodes, as flannel's host-gw backend (pkg/backend/hostgw, route_network.go) and
// the cloud route controller (k8s.io/cloud-provider controllers/route): one route per other node's
// podCIDR via its InternalIP, corrected when wrong, removed when the node goes; re-checked every 10 s.
// Only routes tagged `proto 211` are ours. Once they are in, the Node gets NetworkUnavailable=False,
// reason RouteCreated (True, NoRouteCreated when applying failed), as the route controller writes it.
import type { Node, NodeCondition } from '../../kube/api.js';
import type { KubeClient } from '../../kube/types.js';
import { errorMessage } from '../../lib/errors.js';
import type { HostNet } from './host.js';
import { nodePodCIDR, planRoutes, type Route } from './plan.js';

export interface RouteSyncResult {
  routes: Route[];
  added: number;
  removed: number;
  errors: string[];
}

/** Applies one route plan against the host; errors are collected, not thrown (the rest still applies). */
export async function syncRoutes(host: HostNet, selfName: string, nodes: readonly Node[]): Promise<RouteSyncResult> {
  const plan = planRoutes(selfName, nodes, await host.listRoutes());
  const errors: string[] = [];
  let added = 0;
  let removed = 0;
  for (const r of plan.remove) {
    try {
      await host.deleteRoute(r);
      removed++;
    } catch (err) {
      errors.push(errorMessage(err));
    }
  }
  for (const r of plan.replace) {
    try {
      await host.replaceRoute(r);
      added++;
    } catch (err) {
      errors.push(errorMessage(err));
    }
  }
  return { routes: plan.desired, added, removed, errors };
}

/** The NetworkUnavailable condition the route controller would write, or undefined when it is already so. */
export function networkCondition(node: Node | undefined, ok: boolean, message: string, now: Date): NodeCondition | undefined {
  const status = ok ? 'False' : 'True';
  const reason = ok ? 'RouteCreated' : 'NoRouteCreated';
  const prev = node?.status?.conditions?.find((c) => c.type === 'NetworkUnavailable');
  if (prev?.status === status && prev.reason === reason) return undefined;
  const t = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { type: 'NetworkUnavailable', status, reason, message, lastHeartbeatTime: t, lastTransitionTime: prev?.status === status ? (prev.lastTransitionTime ?? t) : t };
}

/** Patches the condition into nodes/<name>/status (strategic merge: conditions merge by type). */
export async function patchNetworkCondition(client: KubeClient, nodeName: string, cond: NodeCondition): Promise<void> {
  await client.patch(`/api/v1/nodes/${encodeURIComponent(nodeName)}/status`, { status: { conditions: [cond] } }, 'strategic');
}

/** Whether the node is in pod-network mode (it has a podCIDR): only then are routes kept. */
export function hasPodCIDR(nodes: readonly Node[], selfName: string): boolean {
  return nodePodCIDR(nodes.find((n) => n.metadata.name === selfName)) !== undefined;
}
