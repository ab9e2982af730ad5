// Small judgements about the API server's copy of a pod and the answers the status writer gets
// (as the upstream status manager reasons about them): which copy is newer, and which failure means
// the API server is away rather than refusing the write.
import { ErrorCodes, isCode } from '../../lib/errors.js';

/** A failure that says the API server is away (not reached, or overloaded), rather than a refusal. */
export function isOutage(err: unknown): boolean {
  if (!isCode(err, ErrorCodes.KUBE_API)) return true;
  const code = (err as { details?: { status?: number } }).details?.status ?? 0;
  return code >= 500 || code === 429;
}

/** True when b is a later resourceVersion than a (numeric etcd revisions; unknown shapes count as later). */
export function laterRV(a: string | undefined, b: string | undefined): boolean {
  if (!b) return false;
  if (!a) return true;
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(b) > BigInt(a);
  return a !== b;
}
