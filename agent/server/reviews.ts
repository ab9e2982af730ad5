// TokenReview and SubjectAccessReview against the apiserver: the kubelet's delegated authentication
// (--authentication-token-webhook) and Webhook authorization (--authorization-mode=Webhook),
// k8s.io/apiserver/pkg/authentication/authenticatorfactory and authorization/authorizerfactory.
import type { KubeClient } from '../../kube/types.js';
import type { RequestAttributes, UserInfo } from './types.js';

export interface TokenReviewResult {
  authenticated: boolean;
  user?: UserInfo;
  error?: string;
}

export interface AccessReviewResult {
  allowed: boolean;
  reason?: string;
  evaluationError?: string;
}

/** The two reviews the gate asks the apiserver for; injected so unit tests can fake them. */
export interface ReviewClient {
  tokenReview(token: string): Promise<TokenReviewResult>;
  accessReview(user: UserInfo, attrs: RequestAttributes): Promise<AccessReviewResult>;
}

interface TokenReviewBody {
  status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }; error?: string };
}

interface AccessReviewBody {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

const REVIEW_TIMEOUT_MS = 10_000;

export function kubeReviewClient(client: KubeClient): ReviewClient {
  return {
    async tokenReview(token) {
      const r = await client.create<TokenReviewBody>('/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token },
      }, { timeoutMs: REVIEW_TIMEOUT_MS });
      const st = r.status ?? {};
      if (!st.authenticated || !st.user?.username) return { authenticated: false, ...(st.error ? { error: st.error } : {}) };
      const u = st.user;
      return {
        authenticated: true,
        user: { username: u.username ?? '', ...(u.uid ? { uid: u.uid } : {}), groups: u.groups ?? [], ...(u.extra ? { extra: u.extra } : {}) },
      };
    },
    async accessReview(user, attrs) {
      const r = await client.create<AccessReviewBody>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          groups: user.groups,
          ...(user.extra ? { extra: user.extra } : {}),
          resourceAttributes: { verb: attrs.verb, group: '', version: 'v1', resource: attrs.resource, subresource: attrs.subresource, name: attrs.name },
        },
      }, { timeoutMs: REVIEW_TIMEOUT_MS });
      const st = r.status ?? {};
      return {
        allowed: st.allowed === true && st.denied !== true,
        ...(st.reason ? { reason: st.reason } : {}),
        ...(st.evaluationError ? { evaluationError: st.evaluationError } : {}),
      };
    },
  };
}
