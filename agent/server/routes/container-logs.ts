// GET /containerLogs/{namespace}/{pod}/{container} (pkg/kubelet/server/server.go getContainerLogs):
// PodLogOptions from the query (400 undecodable, 422 invalid), the pod and container by name (404
// "pod ... does not exist" / "container ... not found in pod ..."), the instance by
// validateContainerLogStatus (400 with its message), then the log, chunked and flushed per write
// (flushwriter). follow ends when the container stops; a client going away closes Docker's stream.
// The last chunk of a log is never sent together with the terminating chunk: the API server's websocket
// log reader (wsstream messageCopy) drops the bytes of a Read that also returns io.EOF, and Go's chunked
// body reader returns both at once when the terminator is already buffered — so `kubectl logs` over
// websockets (and the conformance spec "retrieving logs from the container over websockets") read an
// empty log whenever data and end went out in one TCP segment, as Node's corked write + end does. The
// upstream kubelet ends its response after its handler returns, a separate write.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Clock } from '../../../lib/clock.js';
import { errorMessage } from '../../../lib/errors.js';
import type { Logger } from '../../../lib/log.js';
import type { ContainerLogOptions, ContainerLogs } from '../../../runtime/logs.js';
import { httpMessageFor, httpStatusFor } from '../http-errors.js';
import type { PodLookup } from '../types.js';
import { parseLogOptions, type PodLogOptions } from './log-options.js';

export interface ContainerLogsDeps {
  lookup: PodLookup;
  logs: ContainerLogs;
  clock: Clock;
  log: Logger;
}

interface Params {
  namespace: string;
  pod: string;
  container: string;
}

/** The runtime options for validated PodLogOptions (sinceSeconds resolved against now). */
export function runtimeLogOptions(o: PodLogOptions, nowMs: number, signal?: AbortSignal): ContainerLogOptions {
  const since = o.sinceTime ?? (o.sinceSeconds !== undefined ? nowMs - o.sinceSeconds * 1000 : undefined);
  return {
    follow: o.follow,
    timestamps: o.timestamps,
    ...(o.tailLines !== undefined ? { tailLines: o.tailLines } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(o.limitBytes !== undefined ? { limitBytes: o.limitBytes } : {}),
    ...(o.stream ? { stream: o.stream } : {}),
    ...(signal ? { signal } : {}),
  };
}

/** The pause between the last log bytes and the end of the response (see the file comment). */
export const END_AFTER_DATA_MS = 200;

function fail(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('text/plain; charset=utf-8').send(message);
}

export function registerContainerLogs(app: FastifyInstance, deps: ContainerLogsDeps): void {
  app.get<{ Params: Params; Querystring: Record<string, string | string[]> }>('/containerLogs/:namespace/:pod/:container', async (req, reply) => {
    const { namespace, pod, container } = req.params;
    if (!namespace || !pod || !container) return fail(reply, 400, 'namespace, pod and container must be given: /containerLogs/{namespace}/{pod}/{container}');
    const parsed = parseLogOptions(req.query);
    if (!parsed.ok) return fail(reply, parsed.status, parsed.message);
    const o = parsed.options;
    let resolved;
    try {
      resolved = await deps.lookup.container({ namespace, pod, container }, { previous: o.previous });
    } catch (err) {
      return fail(reply, httpStatusFor(err), httpMessageFor(err));
    }
    const abort = new AbortController();
    const res = reply.raw;
    const onClose = () => abort.abort();
    res.once('close', onClose);
    let opened;
    try {
      opened = await deps.logs.open(resolved.containerId, runtimeLogOptions(o, deps.clock.now(), abort.signal));
    } catch (err) {
      res.removeListener('close', onClose);
      if (abort.signal.aborted) return reply.hijack();
      // Upstream answers any error of GetKubeletContainerLogs with 400.
      return fail(reply, 400, `failed to get logs of container ${JSON.stringify(container)} in pod ${JSON.stringify(pod)}: ${errorMessage(err)}`);
    }
    reply.hijack();
    const stream = opened.stream;
    if (abort.signal.aborted) {
      stream.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked', 'x-content-type-options': 'nosniff' });
    res.flushHeaders();
    const done = () => {
      res.removeListener('close', onClose);
      if (!stream.destroyed) stream.destroy();
    };
    let lastWrite = 0;
    let endTimer: NodeJS.Timeout | undefined;
    stream.on('data', (chunk: Buffer) => {
      lastWrite = Date.now();
      if (!res.write(chunk)) {
        stream.pause();
        res.once('drain', () => stream.resume());
      }
    });
    stream.once('end', () => {
      done();
      const wait = lastWrite === 0 ? 0 : Math.max(0, END_AFTER_DATA_MS - (Date.now() - lastWrite));
      if (wait === 0) res.end();
      else endTimer = setTimeout(() => res.end(), wait);
    });
    res.once('close', () => clearTimeout(endTimer));
    stream.once('error', (err) => {
      deps.log.debug({ err, pod: `${namespace}/${pod}`, container }, 'log stream failed');
      done();
      res.destroy();
    });
    res.once('close', done);
  });
}
