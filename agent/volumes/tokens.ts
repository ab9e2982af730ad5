// Bound service account tokens for projected volumes (TokenRequest) and the kubelet token manager's
// refresh rule: refresh when older than 80% of the TTL, or older than 24 h.
import type { Pod, TokenRequest } from '../../kube/api.js';
import type { KubeClient } from '../../kube/types.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { delay as sleep } from '../../lib/lifecycle.js';
import { tokenPath } from '../containers/sources.js';

/** What ServiceAccount admission sets when a projected token source leaves expirationSeconds unset. */
export const DEFAULT_EXPIRATION_SECONDS = 3607;
const MAX_TTL_MS = 24 * 3600 * 1000;

export interface IssuedToken {
  token: string;
  /** Epoch ms (status.expirationTimestamp). */
  expiresAt: number;
  /** The TTL the server granted (spec.expirationSeconds of the response), seconds. */
  ttlSeconds: number;
  /** The request fingerprint (sa, audience, expiration) this token answers. */
  key: string;
}

export interface TokenSourceSpec {
  audience?: string;
  expirationSeconds?: number;
}

export function serviceAccountOf(pod: Pod): string {
  return pod.spec.serviceAccountName || 'default';
}

export function tokenRequestKey(pod: Pod, src: TokenSourceSpec): string {
  return `${serviceAccountOf(pod)}|${src.audience ?? ''}|${src.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS}`;
}

/** Epoch ms at which the token must be replaced. */
export function refreshAt(t: IssuedToken): number {
  const issuedAt = t.expiresAt - t.ttlSeconds * 1000;
  const byFraction = t.expiresAt - Math.trunc((t.ttlSeconds * 20) / 100) * 1000;
  return Math.min(byFraction, issuedAt + MAX_TTL_MS);
}

export function requiresRefresh(t: IssuedToken, now: number): boolean {
  return now >= refreshAt(t);
}

/**
 * The node authorizer decides a node's token request from its graph of pods and their nodes, fed by an
 * informer: a pod the node sees bound right away can be unknown there for a moment. Then the service
 * account has no path to the node yet ("no relationship found between node 'n' and this object"), or
 * the pod is not yet on it ("node requested token bound to a pod scheduled on a different node"). Such
 * a refusal is asked again after these delays (~1.5 s in all) before it fails the volume set-up (and
 * the pod sync's 2 s retry).
 */
const GRAPH_RETRY_MS = [50, 100, 200, 400, 800];

function isGraphLag(err: unknown): boolean {
  const status = (err as { details?: { status?: number } }).details?.status;
  return status === 403 && /scheduled on a different node|no relationship found between node|not found/i.test(errorMessage(err));
}

async function createWithGraphRetry<T>(create: () => Promise<T>, delays: readonly number[]): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await create();
    } catch (err) {
      const delay = delays[i];
      if (delay === undefined || !isGraphLag(err)) throw err;
      await sleep(delay);
    }
  }
}

/** POST …/serviceaccounts/<sa>/token bound to the pod; audiences default to the API server's. */
export async function requestToken(client: KubeClient, pod: Pod, src: TokenSourceSpec, retryDelaysMs: readonly number[] = GRAPH_RETRY_MS): Promise<IssuedToken> {
  const ns = pod.metadata.namespace ?? 'default';
  const expirationSeconds = src.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
  const body: TokenRequest = {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      audiences: src.audience ? [src.audience] : [],
      expirationSeconds,
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
    },
  };
  const res = await createWithGraphRetry(() => client.create<TokenRequest>(tokenPath(ns, serviceAccountOf(pod)), body), retryDelaysMs);
  const token = res.status?.token;
  const exp = res.status?.expirationTimestamp ? Date.parse(res.status.expirationTimestamp) : Number.NaN;
  if (!token || Number.isNaN(exp)) throw new DockerletError(ErrorCodes.VOLUME, 'token request returned no token', { details: { reason: 'token' } });
  return { token, expiresAt: exp, ttlSeconds: res.spec?.expirationSeconds ?? expirationSeconds, key: tokenRequestKey(pod, src) };
}
