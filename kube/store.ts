// The informer's local store and the diff a relist applies: what was added, changed (by
// resourceVersion) and removed between the store and a fresh LIST.
import type { KubeObject } from './api.js';
import { objectKey } from './types.js';

export interface StoreDiff<T> {
  added: T[];
  updated: [oldObj: T, newObj: T][];
  deleted: T[];
  /** The store content after the relist, keyed by objectKey. */
  next: Map<string, T>;
}

/**
 * Compares the current store with a fresh list. An object counts as updated when its
 * resourceVersion differs (resourceVersions are opaque: only equality is meaningful).
 * An object whose uid changed (deleted and re-created under the same name) is reported as a
 * delete of the old one plus an add of the new one.
 * `added` and `updated` follow list order; `deleted` follows store order.
 */
export function diffStore<T extends KubeObject>(current: ReadonlyMap<string, T>, items: readonly T[]): StoreDiff<T> {
  const next = new Map<string, T>();
  const added: T[] = [];
  const updated: [T, T][] = [];
  const replaced: T[] = [];
  for (const item of items) {
    const key = objectKey(item);
    next.set(key, item);
    const old = current.get(key);
    if (!old) added.push(item);
    else if (old.metadata.uid !== item.metadata.uid) {
      replaced.push(old);
      added.push(item);
    } else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) updated.push([old, item]);
  }
  const deleted: T[] = [];
  for (const [key, old] of current) if (!next.has(key)) deleted.push(old);
  deleted.push(...replaced);
  return { added, updated, deleted, next };
}
