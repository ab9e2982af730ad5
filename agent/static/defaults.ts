// What the kubelet's file source does to a decoded manifest (pkg/kubelet/config/common.go applyDefaults
// plus the core/v1 scheme defaults the API server would otherwise apply): the UID is a hash of the
// manifest, the name gets the node suffix, the pod is bound to this node and annotated as a file pod.
import { createHash } from 'node:crypto';
import type { Container, Pod, Probe } from '../../kube/api.js';

export const ANNOTATION_CONFIG_SOURCE = 'kubernetes.io/config.source';
export const ANNOTATION_CONFIG_HASH = 'kubernetes.io/config.hash';
export const ANNOTATION_CONFIG_SEEN = 'kubernetes.io/config.seen';
export const ANNOTATION_CONFIG_MIRROR = 'kubernetes.io/config.mirror';

/** JSON with object keys sorted at every level (stable across key order and whitespace in the file). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * The static pod UID: 32 hex chars (md5, as upstream) over the canonical manifest, the node and the
 * file path. Stable across restarts and cosmetic edits; changes when the manifest's content does.
 */
export function staticPodUid(manifest: unknown, nodeName: string, file: string): string {
  return createHash('md5').update(canonicalJson(manifest)).update(`host:${nodeName}`).update(`file:${file}`).digest('hex');
}

/** Always for :latest or no tag, IfNotPresent otherwise (digest-only references count as tagged). */
export function defaultPullPolicy(image: string | undefined): 'Always' | 'IfNotPresent' {
  if (!image) return 'IfNotPresent';
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  const tag = colon >= 0 ? last.slice(colon + 1) : at >= 0 ? '' : 'latest';
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultProbe(p: Probe | undefined): void {
  if (!p) return;
  p.timeoutSeconds ??= 1;
  p.periodSeconds ??= 10;
  p.successThreshold ??= 1;
  p.failureThreshold ??= 3;
  if (p.httpGet) {
    p.httpGet.path ??= '/';
    p.httpGet.scheme ??= 'HTTP';
  }
}

function defaultContainer(c: Container): void {
  c.imagePullPolicy ??= defaultPullPolicy(c.image);
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  for (const p of c.ports ?? []) p.protocol ??= 'TCP';
  for (const e of c.env ?? []) {
    const f = e.valueFrom?.fieldRef;
    if (f) f.apiVersion ??= 'v1';
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
}

const DEFAULT_MODE = 0o644;

export interface StaticPodContext {
  nodeName: string;
  file: string;
  /** RFC 3339 time the manifest was read (kubernetes.io/config.seen). */
  seen: string;
}

/** Applies upstream's static-pod defaulting to a validated manifest, in place, and returns it. */
export function applyStaticDefaults(pod: Pod, ctx: StaticPodContext): Pod {
  const manifest = structuredClone(pod);
  const uid = pod.metadata.uid || staticPodUid(manifest, ctx.nodeName, ctx.file);
  const meta = pod.metadata;
  meta.uid = uid;
  meta.name = `${meta.name}-${ctx.nodeName.toLowerCase()}`;
  meta.namespace ||= 'default';
  meta.annotations = {
    ...meta.annotations,
    [ANNOTATION_CONFIG_HASH]: uid,
    [ANNOTATION_CONFIG_SEEN]: ctx.seen,
    [ANNOTATION_CONFIG_SOURCE]: 'file',
  };
  const spec = pod.spec;
  spec.nodeName = ctx.nodeName;
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  // Static pods tolerate every NoExecute taint, so node problems never evict them (upstream).
  const tolerations = spec.tolerations ?? [];
  if (!tolerations.some((t) => t.operator === 'Exists' && t.effect === 'NoExecute' && !t.key)) {
    tolerations.push({ operator: 'Exists', effect: 'NoExecute' });
  }
  spec.tolerations = tolerations;
  for (const v of spec.volumes ?? []) {
    if (!v.emptyDir && !v.hostPath && !v.configMap && !v.secret && !v.downwardAPI && !v.projected && !v.persistentVolumeClaim) v.emptyDir = {};
    if (v.hostPath) v.hostPath.type ??= '';
    if (v.configMap) v.configMap.defaultMode ??= DEFAULT_MODE;
    if (v.secret) v.secret.defaultMode ??= DEFAULT_MODE;
    if (v.downwardAPI) v.downwardAPI.defaultMode ??= DEFAULT_MODE;
    if (v.projected) v.projected.defaultMode ??= DEFAULT_MODE;
    for (const f of [...(v.downwardAPI?.items ?? []), ...(v.projected?.sources.flatMap((s) => s.downwardAPI?.items ?? []) ?? [])]) {
      if (f.fieldRef) f.fieldRef.apiVersion ??= 'v1';
    }
  }
  for (const c of spec.initContainers ?? []) defaultContainer(c);
  for (const c of spec.containers) defaultContainer(c);
  pod.status = { phase: 'Pending' };
  return pod;
}
