// The kubelet's streaming endpoints on the kubelet API server (pkg/kubelet/server/server.go getExec,
// getAttach, getRun, getPortForward, with the CRI streaming server's protocols): /exec, /attach and
// /portForward are HTTP upgrades (SPDY/3.1, as the apiserver sends them; WebSocket channel protocols
// for direct clients). Node delivers Connection: Upgrade requests as the server's 'upgrade' event, not
// to fastify routes, so they are served from an 'upgrade' listener: the request gate first (401/403 as
// plain HTTP on the socket), then the pod lookup, protocol negotiation and the session. /run is a
// plain POST whose body is the command's output. Without an upgrade, /exec etc. answer 400.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import Dockerode from 'dockerode';
import type { FastifyInstance } from 'fastify';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/log.js';
import { DockerContainerStreams } from '../../../runtime/docker/streams.js';
import type { ContainerStreams } from '../../../runtime/streams.js';
import type { RoutePlugin, ServerContext } from '../types.js';
import {
  isSpdyUpgrade, isWebSocketUpgrade, negotiate, PORTFORWARD_PROTOCOLS, REMOTECOMMAND_PROTOCOLS, writeHttpError,
} from './negotiate.js';
import { parseCommandQuery, parseStreamingPath, type StreamingPath } from './paths.js';
import { servePortForwardSpdy } from './portforward.js';
import { serveCommandSpdy } from './remotecommand.js';
import { registerRun } from './run.js';
import { errorResponse } from './status.js';
import { serveWebSocket } from './websocket.js';

export interface StreamingOptions {
  streams: ContainerStreams;
  /** kubelet streamCreationTimeout; default 30 s. */
  streamCreationTimeoutMs?: number;
  /** kubelet streamingConnectionIdleTimeout; default 4 h. */
  idleTimeoutMs?: number;
}

export function createStreamingPlugin(options: StreamingOptions): RoutePlugin {
  return (app: FastifyInstance, ctx: ServerContext) => {
    const log = ctx.log.child({ component: 'streaming' });
    const active = new Set<() => void>();
    const track = (close: () => void) => {
      active.add(close);
      return () => void active.delete(close);
    };
    const deps = { ...options, log, track };

    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://kubelet');
      } catch {
        return;
      }
      const path = parseStreamingPath(url.pathname);
      if (path === undefined) {
        // Not ours: answer only when no other listener can.
        if (app.server.listenerCount('upgrade') === 1) writeHttpError(socket, 404, `${url.pathname} not found`, { json: false });
        return;
      }
      socket.on('error', (err) => log.debug({ err }, 'upgrade socket error'));
      void handleUpgrade(req, socket, head, url, path, ctx, deps).catch((err: unknown) => {
        log.warn({ err }, 'streaming request failed');
        const { status, message } = errorResponse(err);
        writeHttpError(socket, status, message);
      });
    };
    app.server.on('upgrade', onUpgrade);
    app.addHook('onClose', async () => {
      app.server.off('upgrade', onUpgrade);
      for (const close of [...active]) close();
    });

    const needUpgrade = async (_req: unknown, reply: { code(n: number): { type(t: string): { send(b: string): unknown } } }) =>
      reply.code(400).type('text/plain; charset=utf-8').send('Upgrade request required\n');
    for (const verb of ['exec', 'attach']) {
      app.route({ method: ['GET', 'POST'], url: `/${verb}/:ns/:pod/:container`, handler: needUpgrade });
      app.route({ method: ['GET', 'POST'], url: `/${verb}/:ns/:pod/:uid/:container`, handler: needUpgrade });
    }
    app.route({ method: ['GET', 'POST'], url: '/portForward/:ns/:pod', handler: needUpgrade });
    app.route({ method: ['GET', 'POST'], url: '/portForward/:ns/:pod/:uid', handler: needUpgrade });
    registerRun(app, ctx, deps);
  };
}

/** The plugin with Docker at its default socket (DOCKER_HOST or /var/run/docker.sock). */
export const registerStreaming: RoutePlugin = (app, ctx) =>
  createStreamingPlugin({ streams: new DockerContainerStreams(new Dockerode()) })(app, ctx);

interface Deps extends StreamingOptions {
  log: Logger;
  track: (close: () => void) => () => void;
}

async function handleUpgrade(
  req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, path: StreamingPath | string, ctx: ServerContext, deps: Deps,
): Promise<void> {
  const gate = await ctx.gate(req);
  if (!gate.allowed) return writeHttpError(socket, gate.status, gate.message, { json: false });
  if (typeof path === 'string') return writeHttpError(socket, 400, path);
  if (path.verb === 'run') return writeHttpError(socket, 405, 'run does not upgrade');
  const ws = isWebSocketUpgrade(req);
  if (!ws && !isSpdyUpgrade(req)) return writeHttpError(socket, 400, 'unable to upgrade: missing upgrade headers in request', { json: false });
  const log = deps.log.child({ verb: path.verb, pod: `${path.namespace}/${path.pod}`, user: gate.user.username });

  if (path.verb === 'portForward') {
    const sb = await ctx.lookup.sandbox(path.namespace, path.pod, path.uid);
    const target = { ...sb, pod: `${sb.namespace}/${sb.pod}` };
    if (ws) return serveWebSocket(req, socket, head, { kind: 'portForward', target, url }, { ...deps, log });
    const n = negotiate(req, PORTFORWARD_PROTOCOLS);
    if (!n.ok) return writeHttpError(socket, n.status, n.message, { json: false, headers: n.headers });
    log.debug('port-forward session');
    return servePortForwardSpdy(socket, head, n.protocol, target, { ...deps, log });
  }

  const parsed = parseCommandQuery(url.searchParams, path.verb);
  if (typeof parsed === 'string') return writeHttpError(socket, 400, parsed);
  const c = await ctx.lookup.container({ namespace: path.namespace, pod: path.pod, container: path.container!, ...(path.uid ? { uid: path.uid } : {}) });
  if (!c.running) {
    throw new DockerletError(ErrorCodes.CONTAINER_NOT_RUNNING, `container ${JSON.stringify(c.container)} in pod ${JSON.stringify(c.pod)} is not running`);
  }
  const request = { kind: path.verb, containerId: c.containerId, cmd: parsed.cmd, opts: parsed.opts };
  if (ws) return serveWebSocket(req, socket, head, { kind: 'command', request }, { ...deps, log });
  const n = negotiate(req, REMOTECOMMAND_PROTOCOLS);
  if (!n.ok) return writeHttpError(socket, n.status, n.message, { json: false, headers: n.headers });
  log.debug({ cmd: parsed.cmd, tty: parsed.opts.tty, stdin: parsed.opts.stdin }, `${path.verb} session`);
  return serveCommandSpdy(socket, head, n.protocol, request, { ...deps, log });
}
