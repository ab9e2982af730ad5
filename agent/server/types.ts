// The contract between the kubelet API server (agent/server/), its streaming routes
// (agent/server/streaming/) and the metrics routes (metrics/): a route plugin receives the fastify
// app and a context with the request gate (the kubelet's authentication + authorization filter,
// pkg/kubelet/server/auth.go) and the pod lookup. Plugins register routes; they never listen.
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../lib/log.js';

/** The authenticated user, as authentication.k8s.io/v1 UserInfo. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** The attributes the kubelet authorizes a request with (nodes/<subresource>, verb from the method). */
export interface RequestAttributes {
  verb: string;
  resource: 'nodes';
  subresource: string;
  name: string;
  /** For non-resource checks; unused by the kubelet API today. */
  path?: string;
}

export type GateResult =
  | { allowed: true; user: UserInfo; attributes: RequestAttributes }
  | { allowed: false; status: 401 | 403; message: string };

/**
 * Authenticates and authorizes one request as the kubelet does: x509 client certificate or bearer
 * token (TokenReview), then SubjectAccessReview (or AlwaysAllow when configured). Usable from a
 * fastify hook and from a raw 'upgrade' handler alike. Never throws for a denied request.
 */
export type RequestGate = (req: IncomingMessage) => Promise<GateResult>;

export interface ContainerRef {
  namespace: string;
  pod: string;
  /** The pod UID when the path carries one (/exec/{ns}/{pod}/{uid}/{container}). */
  uid?: string;
  container: string;
}

export interface ResolvedContainer {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  /** The Docker container id. */
  containerId: string;
  running: boolean;
  /** Whether the container was created with a TTY (logs are then one raw stream). */
  tty: boolean;
}

export interface ResolvedSandbox {
  namespace: string;
  pod: string;
  podUid: string;
  sandboxId: string;
  /** The sandbox's init pid (its network namespace is /proc/<pid>/ns/net); undefined when not running. */
  pid?: number;
  ip?: string;
}

/**
 * Finds this node's pods and containers by Kubernetes identity. Rejects with a DockerletError
 * whose code is POD_NOT_FOUND or CONTAINER_NOT_FOUND (→ 404) or CONTAINER_NOT_RUNNING (→ 400,
 * upstream's "container ... is not running" / "not valid for pod") with the upstream message.
 */
export interface PodLookup {
  container(ref: ContainerRef, opts?: { previous?: boolean }): Promise<ResolvedContainer>;
  sandbox(namespace: string, pod: string, uid?: string): Promise<ResolvedSandbox>;
}

export interface ServerContext {
  gate: RequestGate;
  lookup: PodLookup;
  log: Logger;
}

/** Registers routes on the kubelet server. Called once from the server's build(). */
export type RoutePlugin = (app: FastifyInstance, ctx: ServerContext) => void | Promise<void>;
