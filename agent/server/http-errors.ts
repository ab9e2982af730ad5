// HTTP status for the errors routes raise, as the kubelet answers them (pkg/kubelet/server/server.go:
// an unknown pod or container → 404, a container without logs / not running → 400, the rest → 500).
import { DockerletError, ErrorCodes, errorMessage, isCode } from '../../lib/errors.js';

export function httpStatusFor(err: unknown): number {
  if (isCode(err, ErrorCodes.POD_NOT_FOUND) || isCode(err, ErrorCodes.CONTAINER_NOT_FOUND)) return 404;
  if (isCode(err, ErrorCodes.CONTAINER_NOT_RUNNING)) return 400;
  if (isCode(err, ErrorCodes.UNAUTHORIZED)) return 401;
  if (isCode(err, ErrorCodes.FORBIDDEN)) return 403;
  return 500;
}

/** The text a client sees: the DockerletError's message (written for users), else a generic one. */
export function httpMessageFor(err: unknown): string {
  return err instanceof DockerletError ? err.message : `internal error: ${errorMessage(err)}`;
}
