// The error-code catalogue: every error dockerlet raises on purpose has a stable code.
// Callers test codes (isCode), never message text.

export const ErrorCodes = {
  CONFIG_INVALID: 'DKL_ERR_CONFIG_INVALID',
  KUBECONFIG_INVALID: 'DKL_ERR_KUBECONFIG_INVALID',
  KUBE_UNREACHABLE: 'DKL_ERR_KUBE_UNREACHABLE',
  KUBE_TLS: 'DKL_ERR_KUBE_TLS',
  KUBE_API: 'DKL_ERR_KUBE_API',
  KUBE_GONE: 'DKL_ERR_KUBE_GONE',
  WATCH_FAILED: 'DKL_ERR_WATCH_FAILED',
  RUNTIME: 'DKL_ERR_RUNTIME',
  IMAGE_PULL: 'DKL_ERR_IMAGE_PULL',
  IMAGE_NEVER_PULL: 'DKL_ERR_IMAGE_NEVER_PULL',
  INVALID_IMAGE_NAME: 'DKL_ERR_INVALID_IMAGE_NAME',
  CONTAINER_CONFIG: 'DKL_ERR_CONTAINER_CONFIG',
  RUN_CONTAINER: 'DKL_ERR_RUN_CONTAINER',
  VOLUME: 'DKL_ERR_VOLUME',
  MANIFEST_INVALID: 'DKL_ERR_MANIFEST_INVALID',
  NOT_FOUND: 'DKL_ERR_NOT_FOUND',
  PROXY: 'DKL_ERR_PROXY',
  IPTABLES: 'DKL_ERR_IPTABLES',
  CONTROL_PLANE: 'DKL_ERR_CONTROL_PLANE',
  EXEC_TIMEOUT: 'DKL_ERR_EXEC_TIMEOUT',
  INTERNAL: 'DKL_ERR_INTERNAL',
  BAD_REQUEST: 'DKL_ERR_BAD_REQUEST',
  UNAUTHORIZED: 'DKL_ERR_UNAUTHORIZED',
  FORBIDDEN: 'DKL_ERR_FORBIDDEN',
  SERVER: 'DKL_ERR_SERVER',
  CERTIFICATE: 'DKL_ERR_CERTIFICATE',
  POD_NOT_FOUND: 'DKL_ERR_POD_NOT_FOUND',
  CONTAINER_NOT_FOUND: 'DKL_ERR_CONTAINER_NOT_FOUND',
  CONTAINER_NOT_RUNNING: 'DKL_ERR_CONTAINER_NOT_RUNNING',
  STREAM_PROTOCOL: 'DKL_ERR_STREAM_PROTOCOL',
  STREAM: 'DKL_ERR_STREAM',
  PORT_FORWARD: 'DKL_ERR_PORT_FORWARD',
  STATUS_WRITE: 'DKL_ERR_STATUS_WRITE',
  SANDBOX: 'DKL_ERR_SANDBOX',
  CGROUP: 'DKL_ERR_CGROUP',
  METRICS: 'DKL_ERR_METRICS',
  STATE: 'DKL_ERR_STATE',
  TIMEOUT: 'DKL_ERR_TIMEOUT',
  PROBE: 'DKL_ERR_PROBE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class DockerletError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts (never secrets). */
  readonly details: Readonly<Record<string, unknown>>;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DockerletError';
    this.code = code;
    // A copy, typed read-only but not frozen: pino's err serializer tags every error-like object it
    // meets (details carrying a Status `message` look error-like) and redaction writes paths in place.
    this.details = { ...(options?.details ?? {}) };
  }
}

/** True when err, or any error in its cause chain, carries the given code. */
export function isCode(err: unknown, code: ErrorCode): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 10; depth++) {
    if (e instanceof DockerletError && e.code === code) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
