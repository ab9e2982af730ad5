// The pod status patch as the upstream status manager builds it (pkg/kubelet/status/status_manager.go
// mergePodStatus + pkg/util/pod PatchPodStatus = CreateTwoWayMergePatch): the kubelet's status merged
// over the server's copy (other writers' conditions and fields kept), then a two-way strategic merge
// patch from the server's status to the merged one — deletions, `$setElementOrder` and nulls included,
// so lists shrink and change (podIPs by ip, conditions by type; containerStatuses replaced whole).
// Pure: no I/O.
import type { PodCondition, PodStatus } from '../../kube/api.js';

/** Conditions the kubelet owns (pkg/kubelet/types/pod_status.go PodConditionByKubelet). */
export const KUBELET_CONDITIONS: ReadonlySet<string> = new Set([
  'PodScheduled', 'Ready', 'Initialized', 'ContainersReady', 'PodReadyToStartContainers',
  'PodResizePending', 'PodResizeInProgress',
]);

/** Status fields the kubelet writes; anything else on the server (nominatedNodeName…) is left alone. */
const KUBELET_FIELDS: ReadonlySet<string> = new Set([
  'phase', 'conditions', 'message', 'reason', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime', 'qosClass',
  'containerStatuses', 'initContainerStatuses', 'ephemeralContainerStatuses', 'resize', 'observedGeneration',
]);

/** patchMergeKey of the merge-keyed lists in core/v1 PodStatus; other lists are replaced whole. */
const MERGE_KEYS: Readonly<Record<string, string>> = { conditions: 'type', podIPs: 'ip', hostIPs: 'ip' };

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A metav1.Time as the API server stores it: whole seconds, UTC. */
export function toApiTime(s: string): string {
  const m = TIMESTAMP.exec(s);
  if (!m) return s;
  if (m[3] === 'Z') return `${m[1]}Z`;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') : s;
}

function normalizeValue(v: unknown): Json | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return toApiTime(v);
  if (Array.isArray(v)) {
    const items = v.map(normalizeValue).filter((x): x is Json => x !== undefined);
    return items;
  }
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const k of Object.keys(v).sort()) {
      const n = normalizeValue(v[k]);
      if (n === undefined) continue;
      if (Array.isArray(n) && n.length === 0) continue; // omitempty lists
      out[k] = n;
    }
    return out;
  }
  return v as Json;
}

/**
 * upstream normalizeStatus: timestamps cut to whole seconds, container statuses sorted by name, and
 * what the API server drops (nulls, empty lists) dropped, so a status compares equal to its stored copy.
 */
export function normalizeStatus(status: PodStatus): PodStatus {
  const out = (normalizeValue(status) ?? {}) as PodStatus;
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  out.containerStatuses?.sort(byName);
  out.initContainerStatuses?.sort(byName);
  return out;
}

function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}

/**
 * upstream mergePodStatus: the server's conditions that others own stay (first, in their order); the
 * kubelet's conditions follow, and a kubelet-owned condition the kubelet no longer computes is dropped
 * (a cleared PodResizePending/PodResizeInProgress goes). PodScheduled, which upstream does not count as
 * the kubelet's, is kept from the server (the scheduler's) unless the kubelet computed it. Server fields
 * the kubelet does not write are kept. A terminal phase on the server is final (updateStatusInternal
 * refuses the transition).
 */
export function mergePodStatus(server: PodStatus | undefined, desired: PodStatus): PodStatus {
  const s = normalizeStatus(server ?? {});
  const d = normalizeStatus(desired);
  const merged: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (!KUBELET_FIELDS.has(k)) merged[k] = v;
  Object.assign(merged, d);
  const mine = new Set((d.conditions ?? []).map((c) => c.type));
  const conditions: PodCondition[] = [
    ...(s.conditions ?? []).filter((c) => !KUBELET_CONDITIONS.has(c.type) || (c.type === 'PodScheduled' && !mine.has(c.type))),
    ...(d.conditions ?? []),
  ];
  if (conditions.length) merged.conditions = conditions;
  const out = merged as PodStatus;
  if (isTerminal(s.phase) && out.phase !== s.phase) {
    out.phase = s.phase;
    out.conditions = out.conditions?.map((c) => (c.type === 'Ready' || c.type === 'ContainersReady') && c.status === 'True'
      ? { ...c, status: 'False', reason: 'PodCompleted' }
      : c);
  }
  return normalizeStatus(out);
}

export function isTerminal(phase: string | undefined): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}

function diffList(field: string, key: string, oldList: JsonObject[], newList: JsonObject[], out: JsonObject): void {
  const oldBy = new Map(oldList.map((o) => [o[key], o] as const));
  const newKeys = new Set(newList.map((n) => n[key]));
  const items: Json[] = [];
  for (const n of newList) {
    const o = oldBy.get(n[key]);
    if (!o) {
      items.push(n);
      continue;
    }
    const d = diffObject(o, n);
    if (d) items.push({ [key]: n[key] ?? null, ...d });
  }
  for (const o of oldList) if (!newKeys.has(o[key])) items.push({ $patch: 'delete', [key]: o[key] ?? null });
  const sameOrder = oldList.length === newList.length && oldList.every((o, i) => o[key] === newList[i]?.[key]);
  if (items.length === 0 && sameOrder) return;
  out[`$setElementOrder/${field}`] = newList.map((n) => ({ [key]: n[key] ?? null }));
  if (items.length) out[field] = items;
}

/** Two-way strategic merge diff of two normalized objects; undefined when equal. */
function diffObject(oldObj: JsonObject, newObj: JsonObject, mergeKeys: Readonly<Record<string, string>> = {}): JsonObject | undefined {
  const out: JsonObject = {};
  for (const [k, nv] of Object.entries(newObj)) {
    const ov = oldObj[k];
    if (deepEqual(ov, nv)) continue;
    const mk = mergeKeys[k];
    if (mk && Array.isArray(nv) && Array.isArray(ov) && nv.every(isObject) && ov.every(isObject)) {
      diffList(k, mk, ov as JsonObject[], nv as JsonObject[], out);
    } else if (isObject(nv) && isObject(ov)) {
      const d = diffObject(ov, nv);
      if (d) out[k] = d;
    } else {
      out[k] = nv;
    }
  }
  for (const k of Object.keys(oldObj)) if (!(k in newObj)) out[k] = null;
  return Object.keys(out).length ? out : undefined;
}

/** The status part of a two-way strategic merge patch from `from` to `to` (both normalized); undefined when equal. */
export function diffPodStatus(from: PodStatus, to: PodStatus): Record<string, unknown> | undefined {
  return diffObject(from as unknown as JsonObject, to as unknown as JsonObject, MERGE_KEYS);
}

export interface StatusPatch {
  /** The body for PATCH pods/<name>/status (application/strategic-merge-patch+json). */
  body: { metadata: { uid: string }; status: Record<string, unknown> };
  /** The status the server will hold once the patch is applied. */
  merged: PodStatus;
}

/**
 * upstream PatchPodStatus: the patch that turns the server's status into the kubelet's (merged over the
 * server's); undefined when the server already holds it (a patch of only the uid is never sent).
 */
export function podStatusPatch(uid: string, server: PodStatus | undefined, desired: PodStatus): StatusPatch | undefined {
  const from = normalizeStatus(server ?? {});
  const merged = mergePodStatus(from, desired);
  const status = diffPodStatus(from, merged);
  return status ? { body: { metadata: { uid }, status }, merged } : undefined;
}
