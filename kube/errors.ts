// Turning HTTP statuses and socket failures into DockerletErrors with stable codes, plus the
// predicates callers use (isNotFound, isConflict, ...). Messages are one line.
import { DockerletError, ErrorCodes, isCode } from '../lib/errors.js';
import type { Status } from './api.js';

/** Node/OpenSSL codes that mean the server's certificate (or the handshake) was not acceptable. */
const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'INVALID_CA', 'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_HANDSHAKE_TIMEOUT', 'EPROTO',
]);

const NET_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'EHOSTDOWN', 'ENETDOWN', 'EPIPE', 'ECONNABORTED', 'EADDRNOTAVAIL', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET',
]);

function errCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/**
 * Classifies a failure below HTTP (connect, DNS, TLS, reset, timeout) as KUBE_TLS or KUBE_UNREACHABLE.
 * Returns undefined for errors that are neither (and already-classified DockerletErrors unchanged).
 */
export function transportError(server: string, err: unknown): DockerletError | undefined {
  if (err instanceof DockerletError) return err;
  const code = errCode(err);
  const msg = oneLine(err instanceof Error ? err.message : String(err));
  if (code && (TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_'))) {
    const hint = code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH'
      ? ' (does the server address match the certificate?)'
      : code === 'EPROTO' || code.startsWith('ERR_SSL_') ? '' : ' (is certificate-authority right?)';
    return new DockerletError(ErrorCodes.KUBE_TLS, `TLS verification of ${server}: ${msg}${hint}`, {
      cause: err, details: { server, code },
    });
  }
  if ((code && NET_CODES.has(code)) || /socket hang up|timed out|timeout/i.test(msg)) {
    return new DockerletError(ErrorCodes.KUBE_UNREACHABLE, `cannot reach ${server}: ${msg}`, {
      cause: err, details: { server, code },
    });
  }
  return undefined;
}

/** Like transportError, but always returns an error (unknown failures become KUBE_UNREACHABLE). */
export function asTransportError(server: string, err: unknown): DockerletError {
  return transportError(server, err) ?? new DockerletError(
    ErrorCodes.KUBE_UNREACHABLE,
    `cannot reach ${server}: ${oneLine(err instanceof Error ? err.message : String(err))}`,
    { cause: err, details: { server, code: errCode(err) } },
  );
}

/** KUBE_UNREACHABLE for a failure this client detects itself (a timeout, a response cut short). */
export function unreachable(server: string, message: string, code?: string): DockerletError {
  return new DockerletError(ErrorCodes.KUBE_UNREACHABLE, `cannot reach ${server}: ${oneLine(message)}`, {
    details: { server, ...(code ? { code } : {}) },
  });
}

/** Builds the KUBE_API error for a non-2xx response; body is the raw response text. */
export function apiError(method: string, path: string, status: number, body: string): DockerletError {
  let st: Partial<Status> | undefined;
  try {
    const parsed = JSON.parse(body) as unknown;
    if (parsed && typeof parsed === 'object' && (parsed as Status).kind === 'Status') st = parsed as Status;
  } catch {
    st = undefined;
  }
  return apiErrorFromStatus(method, path, { ...st, code: st?.code ?? status, message: st?.message ?? (oneLine(body).slice(0, 200) || undefined) });
}

export function apiErrorFromStatus(method: string, path: string, st: Partial<Status>): DockerletError {
  const status = st.code ?? 0;
  const reason = st.reason ?? reasonForCode(status);
  const message = st.message ?? '';
  return new DockerletError(
    ErrorCodes.KUBE_API,
    `${method} ${path}: ${status} ${reason}${message ? `: ${oneLine(message)}` : ''}`,
    { details: { status, reason, message, method, path } },
  );
}

function reasonForCode(code: number): string {
  const m: Record<number, string> = {
    400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
    406: 'NotAcceptable', 409: 'Conflict', 410: 'Gone', 415: 'UnsupportedMediaType', 422: 'Invalid',
    429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
  };
  return m[code] ?? 'Unknown';
}

function apiDetails(err: unknown): { status?: number; reason?: string } | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 10; depth++) {
    if (e instanceof DockerletError && e.code === ErrorCodes.KUBE_API) return e.details as { status?: number; reason?: string };
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function apiStatus(err: unknown): number | undefined {
  return apiDetails(err)?.status;
}

export function isNotFound(err: unknown): boolean {
  return apiStatus(err) === 404;
}

export function isConflict(err: unknown): boolean {
  const d = apiDetails(err);
  return d?.status === 409 && d.reason !== 'AlreadyExists';
}

export function isAlreadyExists(err: unknown): boolean {
  const d = apiDetails(err);
  return d?.status === 409 && d.reason === 'AlreadyExists';
}

export function isGone(err: unknown): boolean {
  return apiStatus(err) === 410 || isCode(err, ErrorCodes.KUBE_GONE);
}

export function isForbidden(err: unknown): boolean {
  return apiStatus(err) === 403;
}

export function isUnauthorized(err: unknown): boolean {
  return apiStatus(err) === 401;
}

/** True for failures worth retrying (transport problems, 429, 5xx). */
export function isTransient(err: unknown): boolean {
  if (isCode(err, ErrorCodes.KUBE_UNREACHABLE)) return true;
  const s = apiStatus(err);
  return s === 429 || (s !== undefined && s >= 500);
}
