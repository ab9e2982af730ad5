// Maps Docker Engine API errors (as dockerode/docker-modem raise them) to DockerletError codes.
import { DockerletError, ErrorCodes, type ErrorCode } from '../../lib/errors.js';

/** The runtime operation that failed; it decides the code for otherwise generic failures. */
export type DockerOp =
  | 'version' | 'list' | 'inspect' | 'create' | 'start' | 'stop' | 'remove'
  | 'pull' | 'inspect-image' | 'list-images' | 'logs' | 'archive' | 'events' | 'update';

interface ModemError {
  statusCode?: number;
  json?: unknown;
  message?: string;
  code?: string;
}

/** HTTP status of a Docker API error, when there is one. */
export function dockerStatus(err: unknown): number | undefined {
  const s = (err as ModemError | undefined)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** Docker's own message text (the `message` of the JSON error body), else the error's message. */
export function dockerMessage(err: unknown): string {
  const e = err as ModemError | undefined;
  const json = e?.json;
  if (json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string') {
    return (json as { message: string }).message.trim();
  }
  if (typeof json === 'string' && json.trim()) return json.trim();
  if (err instanceof Error) {
    // docker-modem: "(HTTP code 404) no such container - No such container: x "
    const m = /^\(HTTP code \d+\) [^-]*- (.*)$/s.exec(err.message);
    return (m?.[1] ?? err.message).trim();
  }
  return String(err);
}

export function isNotFound(err: unknown): boolean {
  return dockerStatus(err) === 404;
}

export function isNameConflict(err: unknown): boolean {
  return dockerStatus(err) === 409 && /already in use/i.test(dockerMessage(err));
}

/**
 * Errors dockerd 20.10 returns for a few seconds after its restart while libnetwork still holds the old
 * endpoints ("endpoint with name … already exists in network bridge", "failed to update store for
 * object type *libnetwork.endpoint"): retrying the same create/start succeeds.
 */
export function isTransientNetworkError(err: unknown): boolean {
  const msg = err instanceof Error && 'cause' in err && err.cause ? dockerMessage(err.cause) : dockerMessage(err);
  return /endpoint with name .* already exists in network|failed to update store for object type/i.test(msg);
}

/** Picks the DockerletError code for a failed operation. */
export function codeFor(op: DockerOp, err: unknown): ErrorCode {
  const status = dockerStatus(err);
  const msg = dockerMessage(err);
  if (/invalid reference format/i.test(msg)) return ErrorCodes.INVALID_IMAGE_NAME;
  if (op === 'pull') return ErrorCodes.IMAGE_PULL;
  if (status === 404) return ErrorCodes.NOT_FOUND;
  if (op === 'start' && status !== undefined) return ErrorCodes.RUN_CONTAINER;
  if (op === 'create' && status === 400) return ErrorCodes.CONTAINER_CONFIG;
  return ErrorCodes.RUNTIME;
}

/** Wraps any error from a Docker call into a DockerletError (a DockerletError passes through). */
export function toDockerletError(op: DockerOp, err: unknown, details: Record<string, unknown> = {}): DockerletError {
  if (err instanceof DockerletError) return err;
  const code = codeFor(op, err);
  const status = dockerStatus(err);
  const msg = dockerMessage(err);
  const sysCode = (err as ModemError | undefined)?.code;
  return new DockerletError(code, `docker ${op} failed: ${msg}`, {
    cause: err,
    details: { op, ...(status !== undefined ? { statusCode: status } : {}), ...(sysCode ? { errno: sysCode } : {}), ...details },
  });
}
