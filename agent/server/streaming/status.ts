// metav1.Status bodies the kubelet's streaming code writes (apimachinery pkg/api/errors, the
// remotecommand v4 error stream in pkg/kubelet/cri/streaming/remotecommand/httpstream.go and exec.go).
import { ErrorCodes, isCode } from '../../../lib/errors.js';

export interface Status {
  kind?: 'Status';
  apiVersion?: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes?: { reason: string; message: string }[] };
  code?: number;
}

export function successStatus(): Status {
  return { metadata: {}, status: 'Success' };
}

/** The v4 error-stream status of a command that exited non-zero (client-go parses causes[ExitCode]). */
export function exitStatus(exitCode: number, cmd: string[] = []): Status {
  const code = Math.max(0, Math.min(255, Math.trunc(exitCode)));
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: command '${cmd.join(' ')}' exited with ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

export function internalErrorStatus(message: string): Status {
  return { metadata: {}, status: 'Failure', message: `Internal error occurred: ${message}`, reason: 'InternalError', code: 500 };
}

const REASONS: Record<number, string> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 500: 'InternalError', 503: 'ServiceUnavailable',
};

/** A complete Status object for a plain HTTP error response. */
export function errorStatus(code: number, message: string): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? 'Unknown', code };
}

/** The HTTP status a lookup or runtime error maps to (PodLookup's contract), and its message. */
export function errorResponse(err: unknown): { status: number; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (isCode(err, ErrorCodes.POD_NOT_FOUND) || isCode(err, ErrorCodes.CONTAINER_NOT_FOUND) || isCode(err, ErrorCodes.NOT_FOUND)) return { status: 404, message };
  if (isCode(err, ErrorCodes.CONTAINER_NOT_RUNNING)) return { status: 400, message };
  return { status: 500, message };
}
