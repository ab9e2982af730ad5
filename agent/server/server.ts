// The kubelet API server on :10250 (pkg/kubelet/server/server.go ListenAndServeKubeletServer): TLS
// 1.2+, client certificates requested (verified against the client CA, never required by the TLS
// layer), every request through the auth filter before routing (401 / 403 / 500 as InstallAuthFilter),
// the kubelet's handlers plus route plugins (streaming, metrics), Go's "404 page not found" for the
// rest. build() registers routes; KubeletServer.start() loads the serving certificate and listens.
import type { Server as HttpsServer } from 'node:https';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Pod } from '../../kube/api.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import type { ContainerLogs } from '../../runtime/logs.js';
import { httpMessageFor, httpStatusFor } from './http-errors.js';
import { registerConfigz } from './routes/configz.js';
import { registerContainerLogs } from './routes/container-logs.js';
import { registerHealthz, type HealthCheck } from './routes/healthz.js';
import { registerPods } from './routes/pods.js';
import type { PodLookup, RequestGate, RoutePlugin, ServerContext } from './types.js';

export interface KubeletServerDeps {
  gate: RequestGate;
  lookup: PodLookup;
  logs: ContainerLogs;
  /** The pods bound to this node as the agent holds them (for /pods). */
  pods(): Pod[];
  /** The pods as the runtime sees them (for /runningpods/). */
  runningPods(): Promise<Pod[]>;
  /** The running configuration (for /configz). */
  configz(): Record<string, unknown>;
  healthChecks: readonly HealthCheck[];
  plugins: readonly RoutePlugin[];
  clock: Clock;
  log: Logger;
  /** The read-only port: only the handlers upstream installs without auth (healthz, /pods, plugins). */
  readOnly?: boolean;
}

export interface ServerTls {
  certPem: string;
  keyPem: string;
  /** PEM bundle that verifies client certificates; without it none are requested. */
  clientCaPem?: string;
}

/** A path with a `.` or `..` segment (raw or percent-encoded), or an undecodable one. */
export function isTraversal(url: string | undefined): boolean {
  const raw = (url ?? '/').split('?')[0] ?? '/';
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return true;
  }
  return decoded.split('/').some((seg) => seg === '.' || seg === '..') || decoded.includes('\0') || decoded.includes('\\');
}

/** Builds the server (routes, hooks, TLS options); never listens. tls undefined = plain HTTP (tests, read-only port). */
export async function buildKubeletServer(deps: KubeletServerDeps, tls?: ServerTls): Promise<FastifyInstance> {
  const https = tls
    ? {
        key: tls.keyPem,
        cert: tls.certPem,
        minVersion: 'TLSv1.2' as const,
        ...(tls.clientCaPem ? { ca: tls.clientCaPem, requestCert: true, rejectUnauthorized: false } : {}),
      }
    : null;
  const app = Fastify({
    ...(https ? { https } : {}),
    logger: false,
    exposeHeadRoutes: false,
    // upstream: ReadTimeout/WriteTimeout 4 h, IdleTimeout 90 s, MaxHeaderBytes 1 MiB.
    connectionTimeout: 0,
    requestTimeout: 0,
    keepAliveTimeout: 90_000,
    bodyLimit: 1 << 20,
    return503OnClosing: true,
    // stop() must not wait for `kubectl logs -f` followers or idle keep-alive connections.
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, maxParamLength: 1024 },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  const log = deps.log;

  app.addHook('onRequest', async (req, reply) => {
    let result;
    try {
      result = await deps.gate(req.raw);
    } catch (err) {
      log.warn({ err, url: req.url }, 'authorization error');
      return reply.code(500).type('text/plain; charset=utf-8').send(httpMessageFor(err));
    }
    if (!result.allowed) return reply.code(result.status).type('text/plain; charset=utf-8').send(result.message);
    if (isTraversal(req.url)) return reply.code(404).type('text/plain; charset=utf-8').send('404 page not found\n');
    return undefined;
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).type('text/plain; charset=utf-8').send('404 page not found\n'));
  app.setErrorHandler((err, req, reply) => {
    const status = (err as { statusCode?: number }).statusCode ?? httpStatusFor(err);
    if (status >= 500) log.warn({ err, url: req.url }, 'request failed');
    return reply.code(status).type('text/plain; charset=utf-8').send(status >= 500 ? httpMessageFor(err) : (err as Error).message);
  });

  registerHealthz(app, deps.healthChecks);
  registerPods(app, deps, { running: !deps.readOnly });
  if (!deps.readOnly) {
    registerConfigz(app, deps.configz);
    registerContainerLogs(app, { lookup: deps.lookup, logs: deps.logs, clock: deps.clock, log });
  }
  const ctx: ServerContext = { gate: deps.gate, lookup: deps.lookup, log };
  for (const plugin of deps.plugins) await plugin(app, ctx);
  await app.ready();
  return app;
}

/** The raw https server under a built app (for 'upgrade' listeners and socket counts). */
export function rawServer(app: FastifyInstance): HttpsServer {
  return app.server as unknown as HttpsServer;
}
