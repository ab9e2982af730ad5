// This node's topology labels, as kube-proxy reads them for topology aware routing: the proxier
// follows its own Node object (an informer with a metadata.name field selector) and re-applies
// endpoint selection when the zone label changes. The same events give the node's eligibility for
// /healthz (KEP-3836, node-eligible.ts); a deleted Node is not eligible.
import type { Node } from '../kube/api.js';
import type { Informer } from '../kube/types.js';
import { nodeEligible } from './node-eligible.js';

export const LABEL_TOPOLOGY_ZONE = 'topology.kubernetes.io/zone';

export class NodeTopology {
  readonly nodeName: string;
  #zone = '';
  #eligible = true;

  constructor(nodeName: string) {
    this.nodeName = nodeName;
  }

  /** False while this node is being deleted or tainted ToBeDeletedByClusterAutoscaler (true until seen). */
  get eligible(): boolean {
    return this.#eligible;
  }

  /** The node's topology.kubernetes.io/zone label ('' when unset or the Node is not seen yet). */
  get zone(): string {
    return this.#zone;
  }

  /**
   * Follows the Node through the informer (what its store holds now, then its events); onChange runs
   * after the zone changed. Returns the unsubscribe. read() again after the informer has synced.
   */
  follow(nodes: Informer<Node>, onChange: (zone: string) => void): () => void {
    this.#onChange = onChange;
    const off = nodes.on({
      add: (n) => this.#set(n, zoneOf(n)),
      update: (_o, n) => this.#set(n, zoneOf(n)),
      delete: (n) => this.#set(n, '', false),
    });
    this.read(nodes);
    return off;
  }

  /** Takes the zone from the informer's store (the Node may have been listed before we subscribed). */
  read(nodes: Informer<Node>): void {
    const n = nodes.get(this.nodeName);
    if (n) this.#set(n, zoneOf(n));
  }

  #onChange: (zone: string) => void = () => {};

  #set(n: Node, zone: string, exists = true): void {
    if (n.metadata.name !== this.nodeName) return;
    this.#eligible = exists && nodeEligible(n);
    if (zone === this.#zone) return;
    this.#zone = zone;
    this.#onChange(zone);
  }
}

function zoneOf(n: Node): string {
  return n.metadata.labels?.[LABEL_TOPOLOGY_ZONE] ?? '';
}
