// The container spec hash stamped on containers: a change in any field that must restart the
// container changes the hash. Canonical JSON (sorted keys, empty values dropped) → sha256 → 16 hex.
// As upstream kubecontainer.HashContainer since in-place resize (InPlacePodVerticalScaling), resources
// are not hashed: a resize is applied to the running container (agent/pods/resize*.ts), or restarts it
// only when its resizePolicy says RestartContainer. Containers created by an older dockerlet carry the
// hash with resources (legacySpecHash); specHashMatches accepts it while the spec (resources included)
// is the one they were created from, so upgrading the agent restarts no running container (upstream's
// own hash change in 1.31 restarted every container on a kubelet upgrade without a drain).
import { createHash } from 'node:crypto';
import type { Container } from '../../kube/api.js';

const HASHED_FIELDS = [
  'image', 'command', 'args', 'env', 'envFrom', 'workingDir', 'ports', 'volumeMounts',
  'securityContext', 'tty', 'stdin', 'stdinOnce', 'terminationMessagePath', 'terminationMessagePolicy',
] as const;

/**
 * Drops undefined/null, false, "", empty arrays and empty objects from objects (all mean "unset" in the
 * API); sorts object keys. Array elements keep their position and primitive value.
 */
function canonical(v: unknown): unknown {
  if (v === null || v === undefined || v === false || v === '') return undefined;
  if (Array.isArray(v)) {
    const items = v.map((x) => (x !== null && typeof x === 'object' ? (canonical(x) ?? {}) : x));
    return items.length ? items : undefined;
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const c = canonical((v as Record<string, unknown>)[k]);
      if (c !== undefined) out[k] = c;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v;
}

/** JSON with sorted keys and empty values removed (stable under key order). */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(canonical(v) ?? null);
}

function quantities(r: Record<string, string | number> | undefined): Record<string, string> | undefined {
  if (!r) return undefined;
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)]));
}

/**
 * The hashed view of a container, with API-server defaults applied so defaulted and raw specs agree.
 * withResources: the view of dockerlet before in-place resize (legacySpecHash).
 */
export function hashedView(c: Container, withResources = false): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const f of HASHED_FIELDS) view[f] = c[f];
  view.terminationMessagePath = c.terminationMessagePath || '/dev/termination-log';
  view.terminationMessagePolicy = c.terminationMessagePolicy || 'File';
  view.ports = c.ports?.map((p) => ({ ...p, protocol: p.protocol ?? 'TCP' }));
  if (withResources) view.resources = c.resources && { limits: quantities(c.resources.limits), requests: quantities(c.resources.requests) };
  view.tty = c.tty || undefined;
  view.stdin = c.stdin || undefined;
  view.stdinOnce = c.stdinOnce || undefined;
  return view;
}

/** sha256 (first 16 hex chars) of the restart-relevant container fields (resources excluded). */
export function containerSpecHash(container: Container): string {
  return createHash('sha256').update(canonicalJson(hashedView(container))).digest('hex').slice(0, 16);
}

/** The hash older dockerlet versions stamped (resources included, in the same canonical view). */
export function legacySpecHash(container: Container): string {
  return createHash('sha256').update(canonicalJson(hashedView(container, true))).digest('hex').slice(0, 16);
}

/**
 * Whether a running container's hash label still matches its spec: the current hash, or the legacy one
 * of an older agent's container created from this very spec (a resize of such a container restarts it
 * once; from then on it carries the new hash and is resized in place).
 */
export function specHashMatches(label: string, expected: string, container: Container): boolean {
  return label === expected || (label !== '' && label === legacySpecHash(container));
}

/** The same hash over any value (used for the sandbox's pod-level fields). */
export function valueHash(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex').slice(0, 16);
}
