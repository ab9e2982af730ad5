// Downward API values: pod fieldRef paths (pkg/fieldpath + kubelet podFieldSelectorRuntimeValue) and
// container resourceFieldRef values (pkg/api/v1/resource ExtractContainerResourceValue).
import type { Container, Pod } from '../../kube/api.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { divideCeil, fromInteger, fromMillis, parseQuantity, ZERO, type Quantity } from './quantity.js';

/** What the node knows that the pod object may not carry yet. */
export interface FieldContext {
  hostIPs?: string[];
  podIPs?: string[];
}

/** Node allocatable, used for limits the container leaves unset. */
export interface Allocatable {
  cpuMillis: number;
  memoryBytes: number;
  ephemeralStorageBytes?: number;
}

function configError(message: string): DockerletError {
  return new DockerletError(ErrorCodes.CONTAINER_CONFIG, message);
}

/** Go's %q for the characters found in label/annotation values. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\x07') out += '\\a';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\v') out += '\\v';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd';
    else out += ch;
  }
  return `${out}"`;
}

/** fieldpath.FormatMap: `key="value"` lines sorted by key, no trailing newline. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${goQuote((m ?? {})[k] ?? '')}`)
    .join('\n');
}

const SUBSCRIPT = /^(metadata\.(?:labels|annotations))\['(.*)'\]$/;

/**
 * The value of a pod fieldRef. Env supports metadata.name/namespace/uid, metadata.labels['k'],
 * metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.hostIP(s), status.podIP(s);
 * volumes also use the whole metadata.labels / metadata.annotations maps.
 */
export function podFieldValue(pod: Pod, fieldPath: string, ctx: FieldContext = {}, apiVersion = 'v1'): string {
  if (apiVersion && apiVersion !== 'v1') throw configError(`unsupported pod version: ${apiVersion}`);
  const md = pod.metadata;
  const sub = SUBSCRIPT.exec(fieldPath);
  if (sub) {
    const map = sub[1] === 'metadata.labels' ? md.labels : md.annotations;
    return map?.[sub[2] ?? ''] ?? '';
  }
  const podIPs = ctx.podIPs?.length ? ctx.podIPs : (pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []));
  const hostIPs = ctx.hostIPs?.length ? ctx.hostIPs : (pod.status?.hostIPs?.map((p) => p.ip) ?? (pod.status?.hostIP ? [pod.status.hostIP] : []));
  switch (fieldPath) {
    case 'metadata.name': return md.name ?? '';
    case 'metadata.namespace': return md.namespace ?? '';
    case 'metadata.uid': return md.uid ?? '';
    case 'metadata.labels': return formatMap(md.labels);
    case 'metadata.annotations': return formatMap(md.annotations);
    case 'spec.nodeName': return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName ?? '';
    case 'status.hostIP':
      if (!hostIPs[0]) throw configError('cannot get host IP: node has no address yet');
      return hostIPs[0];
    case 'status.hostIPs':
      if (!hostIPs[0]) throw configError('cannot get host IPs: node has no address yet');
      return hostIPs.join(',');
    case 'status.podIP': return podIPs[0] ?? '';
    case 'status.podIPs': return podIPs.join(',');
    default:
      throw configError(`unsupported fieldPath: ${fieldPath}`);
  }
}

export interface ResourceFieldSelector {
  containerName?: string;
  resource: string;
  divisor?: string | number;
}

function findContainer(pod: Pod, name: string): Container {
  const c = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((x) => x.name === name);
  if (!c) throw configError(`container ${name} not found`);
  return c;
}

function limitOrAllocatable(c: Container, res: string, alloc: Allocatable): Quantity {
  const raw = c.resources?.limits?.[res];
  if (raw !== undefined) {
    const q = parseQuantity(raw);
    if (q.num !== 0n) return q;
  }
  // MergeContainerResourceLimits: unset (or zero) cpu/memory/ephemeral-storage limits take node allocatable.
  if (res === 'cpu') return fromMillis(alloc.cpuMillis);
  if (res === 'memory') return fromInteger(alloc.memoryBytes);
  if (res === 'ephemeral-storage' && alloc.ephemeralStorageBytes !== undefined) return fromInteger(alloc.ephemeralStorageBytes);
  return raw === undefined ? ZERO : parseQuantity(raw);
}

/**
 * resourceFieldRef value: limits.* default to node allocatable when unset; requests.* are the spec's;
 * the result is ceil(value / divisor) with divisor defaulting to 1 (so CPU rounds up to whole cores).
 */
export function resourceFieldValue(pod: Pod, container: Container | undefined, sel: ResourceFieldSelector, alloc: Allocatable): string {
  const c = sel.containerName ? findContainer(pod, sel.containerName) : container;
  if (!c) throw configError(`resourceFieldRef ${sel.resource}: containerName is required`);
  // The API server defaults divisor to "0"; upstream (ExtractContainerResourceValue) reads zero as 1.
  const parsed = sel.divisor === undefined || sel.divisor === '' ? fromInteger(1) : parseQuantity(sel.divisor);
  const divisor = parsed.num === 0n ? fromInteger(1) : parsed;
  const dot = sel.resource.indexOf('.');
  const kind = sel.resource.slice(0, dot);
  const res = sel.resource.slice(dot + 1);
  const known = res === 'cpu' || res === 'memory' || res === 'ephemeral-storage' || res.startsWith('hugepages-');
  if (dot < 0 || (kind !== 'limits' && kind !== 'requests') || !known) {
    throw configError(`unsupported container resource : ${sel.resource}`);
  }
  let q: Quantity;
  if (kind === 'limits') q = limitOrAllocatable(c, res, alloc);
  else {
    const raw = c.resources?.requests?.[res];
    q = raw === undefined ? ZERO : parseQuantity(raw);
  }
  return divideCeil(q, divisor).toString();
}
