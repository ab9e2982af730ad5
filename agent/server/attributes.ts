// The authorization attributes of a kubelet API request, as pkg/kubelet/server/auth.go
// GetRequestAttributes builds them: resource nodes, name = the node, verb from the HTTP method,
// subresource from the path (stats, metrics, log, checkpoint, else proxy), and with
// KubeletFineGrainedAuthz a specific subresource (pods, healthz, configz, statusz) tried before proxy.
import { posix } from 'node:path';
import type { RequestAttributes } from './types.js';

/** The API verb for an HTTP method; undefined for methods the kubelet does not map. */
export function verbFor(method: string | undefined): string | undefined {
  switch ((method ?? '').toUpperCase()) {
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return undefined;
  }
}

/** upstream isSubpath: path equals prefix, or continues it after a '/'. */
function isSubpath(path: string, prefix: string): boolean {
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || path.startsWith(`${p}/`);
}

/**
 * The request path as routing will see it: the query cut, percent-decoding applied and dot segments
 * resolved, so `/metrics/../pods` is authorized as what it names. undefined when undecodable.
 */
export function canonicalPath(url: string | undefined): string | undefined {
  const raw = (url ?? '/').split('?')[0] ?? '/';
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith('/')) decoded = `/${decoded}`;
  return posix.normalize(decoded);
}

/** Subresources to try, in order; any allow wins (fine-grained first, then the proxy fallback). */
export function subresourcesFor(path: string): string[] {
  if (isSubpath(path, '/stats/')) return ['stats'];
  if (isSubpath(path, '/metrics')) return ['metrics'];
  if (isSubpath(path, '/logs/')) return ['log'];
  if (isSubpath(path, '/checkpoint/')) return ['checkpoint'];
  if (isSubpath(path, '/pods') || isSubpath(path, '/runningpods')) return ['pods', 'proxy'];
  if (isSubpath(path, '/healthz')) return ['healthz', 'proxy'];
  if (isSubpath(path, '/configz')) return ['configz', 'proxy'];
  if (isSubpath(path, '/statusz')) return ['statusz', 'proxy'];
  return ['proxy'];
}

/** Every attribute set the kubelet would authorize a request with, in order. */
export function requestAttributes(nodeName: string, method: string | undefined, url: string | undefined): RequestAttributes[] {
  const path = canonicalPath(url) ?? '/';
  const verb = verbFor(method) ?? '';
  return subresourcesFor(path).map((subresource) => ({ verb, resource: 'nodes', subresource, name: nodeName, path }));
}
