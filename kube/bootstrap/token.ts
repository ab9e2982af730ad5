// Bootstrap tokens and kubeadm's token discovery checks (k8s.io/cluster-bootstrap token/api and
// token/jws): the "<id>.<secret>" token format and the detached HS256 JWS the bootstrapsigner
// controller writes into kube-public/cluster-info as jws-kubeconfig-<token-id>.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

export const TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
export const JWS_KEY_PREFIX = 'jws-kubeconfig-';

export interface BootstrapToken {
  id: string;
  secret: string;
}

export function parseBootstrapToken(token: string): BootstrapToken {
  const m = TOKEN_PATTERN.exec(token.trim());
  if (!m) throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'flag --token: a bootstrap token is "[a-z0-9]{6}.[a-z0-9]{16}"');
  return { id: m[1]!, secret: m[2]! };
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** The detached compact JWS (header..signature) go-jose produces: HS256, protected header {"alg":"HS256","kid":id}. */
export function computeDetachedSignature(content: string, token: BootstrapToken): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', kid: token.id }));
  const sig = createHmac('sha256', token.secret).update(`${header}.${b64url(content)}`).digest();
  return `${header}..${b64url(sig)}`;
}

/**
 * Whether `detached` is a valid HS256 signature of `content` by this token: the header must name
 * HS256 (nothing else is accepted: no "none", no key confusion) and, when it has a kid, this token.
 */
export function detachedSignatureValid(detached: string, content: string, token: BootstrapToken): boolean {
  const parts = detached.split('.');
  if (parts.length !== 3 || parts[1] !== '' || !parts[0] || !parts[2]) return false;
  let header: { alg?: unknown; kid?: unknown };
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as typeof header;
  } catch {
    return false;
  }
  if (header.alg !== 'HS256' || (header.kid !== undefined && header.kid !== token.id)) return false;
  const want = createHmac('sha256', token.secret).update(`${parts[0]}.${b64url(content)}`).digest();
  const got = Buffer.from(parts[2], 'base64url');
  return got.length === want.length && timingSafeEqual(got, want);
}
