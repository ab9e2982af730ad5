// One pod's record in the status manager (upstream status_manager.go versionedPodStatus plus
// apiStatusVersions): what the kubelet believes, the version sent, and the freshest server copy; with
// the pure judgements made on it — whose copy is newer (see), and upstream needsReconcile (drifted).
import type { Pod, PodStatus } from '../../kube/api.js';
import { laterRV } from './api-copy.js';
import { podStatusPatch } from './patch.js';

export interface Entry {
  namespace: string;
  /** The API object's name (for static pods: the mirror pod's name). */
  name: string;
  /** The API object's uid (for static pods: the mirror pod's). */
  uid: string;
  isStatic: boolean;
  version: number;
  /** What the kubelet believes (normalized). */
  status: PodStatus;
  sentVersion: number;
  /** The freshest copy of the API object known: from the informer, a live GET, or a write's answer. */
  server?: Pod;
  /** resourceVersion of the answer to our last write (a later server copy means someone else wrote). */
  writtenRV?: string;
  /** Static pods write to their mirror pod, which may not exist yet (see setTarget). */
  awaitingTarget: boolean;
  /** A retry timer is pending for this pod. */
  retrying: boolean;
  /** Failed syncs in a row (retry back-off). */
  failures: number;
  waiters: { version: number; resolve: () => void }[];
}

/** A new entry for pod (apiName: the mirror pod's name for static pods). */
export function newEntry(pod: Pod, apiName?: string): Entry {
  const isStatic = pod.metadata.annotations?.['kubernetes.io/config.source'] === 'file';
  return {
    namespace: pod.metadata.namespace ?? 'default', name: apiName ?? pod.metadata.name!, uid: pod.metadata.uid!, isStatic, version: 0,
    status: {}, sentVersion: 0, awaitingTarget: isStatic, retrying: false, failures: 0, waiters: [],
  };
}

/** Points the entry at another API object (a static pod's mirror): everything sent so far is forgotten. */
export function retarget(e: Entry, t: { name: string; uid: string }): void {
  e.name = t.name;
  e.uid = t.uid;
  e.awaitingTarget = false;
  e.sentVersion = 0;
  e.server = undefined;
  e.writtenRV = undefined;
}

/** Takes pod as the server's copy when it is this entry's object and not older than the one held. */
export function see(e: Entry, pod: Pod): void {
  if (pod.metadata.uid !== e.uid) return;
  if (e.server && !laterRV(e.server.metadata.resourceVersion, pod.metadata.resourceVersion)) return;
  e.server = pod;
}

/**
 * upstream needsReconcile: the server's copy was written by someone else since our last write and no
 * longer says what the kubelet says.
 */
export function drifted(e: Entry, canWrite: boolean): boolean {
  if (!canWrite || e.awaitingTarget || !e.server || e.version === 0 || e.sentVersion < e.version) return false;
  if (e.writtenRV !== undefined && e.server.metadata.resourceVersion === e.writtenRV) return false;
  return podStatusPatch(e.uid, e.server.status, e.status) !== undefined;
}

/** Resolves the flushed() waiters whose version has been sent. */
export function resolveWaiters(e: Entry): void {
  e.waiters = e.waiters.filter((w) => {
    if (w.version <= e.sentVersion) w.resolve();
    return w.version > e.sentVersion;
  });
}
