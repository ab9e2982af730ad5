// The container-log source the kubelet API's /containerLogs reads from: the options of
// v1.PodLogOptions after the kubelet has resolved them (pkg/kubelet/kuberuntime/logs/logs.go
// NewLogOptions: since as an absolute time, tail, bytes limit, follow, timestamps).
import type { Readable } from 'node:stream';

export interface ContainerLogOptions {
  follow?: boolean;
  /** Prefix each line with its RFC3339Nano timestamp (Docker's format is the kubelet's). */
  timestamps?: boolean;
  /** The last N lines only (0 = none); undefined = all. */
  tailLines?: number;
  /**
   * Lines older than this are skipped: an RFC 3339 time (sinceTime) or epoch milliseconds
   * (sinceSeconds resolved against the clock).
   */
  since?: string | number;
  /** Stop after this many bytes (timestamps included), cutting the last line. */
  limitBytes?: number;
  /** Which stream (PodLogsQuerySplitStreams): both (default), or only stdout / stderr. */
  stream?: 'All' | 'Stdout' | 'Stderr';
  /** Aborting closes the runtime's log stream (a client that went away). */
  signal?: AbortSignal;
}

export interface ContainerLogStream {
  /** stdout and stderr interleaved in arrival order. Destroying it closes the runtime's stream. */
  stream: Readable;
  /** The container has a TTY (one raw stream, no stdout/stderr framing). */
  tty: boolean;
}

export interface ContainerLogs {
  /** Opens a container's log; rejects with a DockerletError (NOT_FOUND for an unknown container). */
  open(containerId: string, opts: ContainerLogOptions): Promise<ContainerLogStream>;
}
