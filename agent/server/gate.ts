// The kubelet API's authentication and authorization filter (pkg/kubelet/server/server.go
// InstallAuthFilter, pkg/kubelet/server/auth.go, k8s.io/apiserver authenticatorfactory and
// authorizerfactory): x509 client certificates verified against clientCAFile (by the TLS layer:
// requestCert with rejectUnauthorized false, then socket.authorized), bearer tokens through a cached
// TokenReview (2 min), anonymous only when enabled and only for requests that carry no credential;
// then Webhook authorization through a cached SubjectAccessReview (5 min allowed, 30 s denied), or
// AlwaysAllow when configured. Unauthenticated → 401 "Unauthorized"; denied → 403 "Forbidden (...)";
// a failed review → thrown DockerletError (the caller answers 500, as upstream).
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { systemClock, type Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { partLogger, type Logger } from '../../lib/log.js';
import { requestAttributes } from './attributes.js';
import type { AccessReviewResult, ReviewClient, TokenReviewResult } from './reviews.js';
import { TtlCache } from './ttl-cache.js';
import type { GateResult, RequestAttributes, RequestGate, UserInfo } from './types.js';

export type AuthorizationMode = 'Webhook' | 'AlwaysAllow';

export interface GateOptions {
  nodeName: string;
  /** Client certificates are verified (the server was given a client CA). */
  x509: boolean;
  /** Bearer tokens are checked through TokenReview. */
  webhook: boolean;
  anonymous: boolean;
  authorization: AuthorizationMode;
  /** Required when webhook authentication or Webhook authorization is on. */
  reviews?: ReviewClient;
  clock?: Clock;
  log?: Logger;
  tokenCacheTtlMs?: number;
  authorizedTtlMs?: number;
  unauthorizedTtlMs?: number;
}

export const ANONYMOUS: UserInfo = Object.freeze({ username: 'system:anonymous', groups: ['system:unauthenticated'] }) as UserInfo;

/** The user a verified client certificate names: CN → username, O → groups (CommonNameUserConversion). */
export function userFromCertificate(subject: Record<string, string | string[] | undefined> | undefined): UserInfo | undefined {
  const cn = subject?.CN;
  const username = Array.isArray(cn) ? cn[0] : cn;
  if (!username) return undefined;
  const o = subject?.O;
  const groups = o === undefined ? [] : Array.isArray(o) ? [...o] : [o];
  return { username, groups };
}

/** The token of an `Authorization: Bearer <token>` header; '' for a malformed one, undefined when absent. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (h === undefined) return undefined;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1] ?? (/^\s*bearer\b/i.test(h) ? '' : undefined);
}

function forbidden(user: UserInfo, attrs: RequestAttributes[]): string {
  const a = attrs[0];
  return `Forbidden (user=${user.username}, verb=${a?.verb ?? ''}, resource=nodes, subresource(s)=[${attrs.map((x) => x.subresource).join(' ')}])`;
}

type Authn = { user: UserInfo } | { error: string } | { none: true };

export class Gate {
  readonly #o: GateOptions;
  readonly #log: Logger;
  readonly #tokens: TtlCache<TokenReviewResult>;
  readonly #access: TtlCache<AccessReviewResult>;

  constructor(opts: GateOptions) {
    if ((opts.webhook || opts.authorization === 'Webhook') && !opts.reviews) {
      throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'webhook authentication/authorization needs an API server connection (kubeconfig)');
    }
    this.#o = opts;
    this.#log = partLogger(opts.log, 'kubelet-auth');
    const clock = opts.clock ?? systemClock;
    this.#tokens = new TtlCache(clock);
    this.#access = new TtlCache(clock);
  }

  /** The RequestGate function the routes and the upgrade handlers call. */
  readonly check: RequestGate = async (req: IncomingMessage): Promise<GateResult> => {
    const authn = await this.authenticate(req);
    if (!('user' in authn)) {
      if ('error' in authn) this.#log.debug({ reason: authn.error, url: req.url }, 'unauthenticated request');
      return { allowed: false, status: 401, message: 'Unauthorized' };
    }
    return this.authorize(authn.user, requestAttributes(this.#o.nodeName, req.method, req.url));
  };

  /** x509, then bearer token, then anonymous (only with no credential offered: FailOnError). */
  async authenticate(req: IncomingMessage): Promise<Authn> {
    const errors: string[] = [];
    if (this.#o.x509) {
      const sock = req.socket as Partial<TLSSocket>;
      const cert = typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate() : undefined;
      if (cert && Object.keys(cert).length > 0) {
        const user = sock.authorized ? userFromCertificate(cert.subject as unknown as Record<string, string | string[]>) : undefined;
        if (user) return { user };
        errors.push(`x509: ${sock.authorized ? 'certificate has no common name' : String(sock.authorizationError ?? 'certificate not verified')}`);
      }
    }
    const token = bearerToken(req.headers.authorization);
    if (token !== undefined && this.#o.webhook) {
      if (token === '') errors.push('invalid bearer token');
      else {
        const r = await this.#reviewToken(token);
        if (r.authenticated && r.user) return { user: r.user };
        errors.push(r.error ? `token: ${r.error}` : 'token not authenticated');
      }
    }
    if (errors.length > 0) return { error: errors.join('; ') };
    if (this.#o.anonymous) return { user: ANONYMOUS };
    return { none: true };
  }

  async #reviewToken(token: string): Promise<TokenReviewResult> {
    const key = createHash('sha256').update(token).digest('hex');
    const ttl = this.#o.tokenCacheTtlMs ?? 120_000;
    try {
      // Both outcomes are kept for the cache TTL, as the delegating authenticator does.
      return await this.#tokens.get(key, () => this.#o.reviews!.tokenReview(token), () => ttl);
    } catch (err) {
      this.#log.warn({ err }, 'TokenReview failed');
      return { authenticated: false, error: `TokenReview failed: ${errorMessage(err)}` };
    }
  }

  /** Any allowed attribute set wins; none allowed → 403; a review error and none allowed → throws. */
  async authorize(user: UserInfo, attrs: RequestAttributes[]): Promise<GateResult> {
    const first = attrs[0];
    if (!first) return { allowed: false, status: 403, message: forbidden(user, attrs) };
    if (this.#o.authorization === 'AlwaysAllow') return { allowed: true, user, attributes: first };
    let failure: unknown;
    for (const a of attrs) {
      if (!a.verb) continue; // an unmapped method is never allowed (upstream: empty verb)
      try {
        const r = await this.#reviewAccess(user, a);
        if (r.allowed) return { allowed: true, user, attributes: a };
      } catch (err) {
        failure = err;
      }
    }
    if (failure !== undefined) {
      throw new DockerletError(ErrorCodes.SERVER, `Authorization error (user=${user.username}, verb=${first.verb}, resource=nodes, subresource=${first.subresource}): ${errorMessage(failure)}`, { cause: failure });
    }
    return { allowed: false, status: 403, message: forbidden(user, attrs) };
  }

  #reviewAccess(user: UserInfo, a: RequestAttributes): Promise<AccessReviewResult> {
    const key = JSON.stringify([user.username, user.uid ?? '', [...user.groups].sort(), sortedExtra(user.extra), a.verb, a.subresource, a.name]);
    const allowedTtl = this.#o.authorizedTtlMs ?? 300_000;
    const deniedTtl = this.#o.unauthorizedTtlMs ?? 30_000;
    return this.#access.get(key, () => this.#o.reviews!.accessReview(user, a), (r) => (r.allowed ? allowedTtl : deniedTtl));
  }

  /** Reviews asked of the apiserver so far (tests read these to see the caches work). */
  get reviewCounts(): { tokens: number; access: number } {
    return { tokens: this.#tokens.loads, access: this.#access.loads };
  }
}

function sortedExtra(extra: Record<string, string[]> | undefined): [string, string[]][] {
  return Object.entries(extra ?? {}).sort(([a], [b]) => a.localeCompare(b));
}
