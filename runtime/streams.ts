// The narrow runtime interface behind the kubelet's streaming endpoints (the CRI's Exec, Attach and
// PortForward as pkg/kubelet/cri/streaming's Runtime interface uses them): a process's stdio as Node
// streams, terminal resize, its exit code, and TCP connections into a pod's network namespace.
// runtime/docker/streams.ts implements it with the Docker exec/attach APIs.
import type { Duplex, Readable, Writable } from 'node:stream';

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Allocate a terminal: output arrives on stdout only, stderr is merged into it. */
  tty: boolean;
}

export interface TerminalSize {
  width: number;
  height: number;
}

/** One exec or attach in progress. */
export interface StdioSession {
  /** The process's stdin (when requested); end() delivers EOF to it. */
  stdin?: Writable;
  stdout?: Readable;
  /** Absent with a TTY (the terminal merges it into stdout). */
  stderr?: Readable;
  resize(size: TerminalSize): Promise<void>;
  /**
   * Resolves once the output has ended: with the exit code for exec (0-255), without one for attach.
   * Rejects when the runtime cannot tell.
   */
  done: Promise<{ exitCode?: number }>;
  /**
   * Ends the session early (the client went away): drops the runtime connection and, for exec, kills
   * the process if it still runs (as containerd's CRI exec does when its request context ends).
   */
  abort(): void;
}

/** TCP connections into one pod's network namespace, held for one port-forward session. */
export interface PortDialer {
  /** Connects to localhost:port inside the pod (a loopback-only listener must be reachable). */
  dial(port: number): Promise<Duplex>;
  close(): void;
}

export interface PodNetworkTarget {
  sandboxId: string;
  /** The sandbox's init pid (its network namespace); undefined when not running. */
  pid?: number;
  /** The pod IP, the fallback when the namespace cannot be entered. */
  ip?: string;
}

export interface ContainerStreams {
  exec(containerId: string, cmd: string[], opts: StreamOptions): Promise<StdioSession>;
  attach(containerId: string, opts: StreamOptions): Promise<StdioSession>;
  portDialer(target: PodNetworkTarget): PortDialer;
}
