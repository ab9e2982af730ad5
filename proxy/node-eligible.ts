// KEP-3836 (kube-proxy's ProxyHealthServer.SyncNode): the node is not eligible for load balancer
// traffic, and /healthz on 10256 answers 503, while its Node is being deleted or carries the cluster
// autoscaler's ToBeDeletedByClusterAutoscaler taint. Eligible until a Node event says otherwise.
import type { Node } from '../kube/api.js';

export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

export function nodeEligible(node: Node | undefined): boolean {
  if (!node) return true;
  if (node.metadata.deletionTimestamp) return false;
  return !(node.spec?.taints ?? []).some((t) => t.key === TO_BE_DELETED_TAINT);
}
