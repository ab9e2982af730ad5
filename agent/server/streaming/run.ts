// POST /run/{podNamespace}/{podID}[/{uid}]/{containerName}?cmd=… (pkg/kubelet/server/server.go
// getRun → RunInContainer): runs the command (the cmd query split on spaces) without a terminal and
// answers its stdout followed by its stderr as the body; a non-zero exit is a 500 naming the code.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import type { Logger } from '../../../lib/log.js';
import type { ContainerStreams } from '../../../runtime/streams.js';
import type { ServerContext } from '../types.js';
import { errorResponse, errorStatus } from './status.js';

/** Output kept from a /run command (upstream's ExecSync has no cap; this bounds memory). */
export const RUN_OUTPUT_LIMIT = 16 * 1024 * 1024;

interface Params {
  ns: string;
  pod: string;
  uid?: string;
  container: string;
}

export function registerRun(app: FastifyInstance, ctx: ServerContext, deps: { streams: ContainerStreams; log: Logger }): void {
  const handler = async (req: FastifyRequest<{ Params: Params; Querystring: Record<string, unknown> }>, reply: FastifyReply) => {
    const gate = await ctx.gate(req.raw);
    if (!gate.allowed) return reply.code(gate.status).type('text/plain; charset=utf-8').send(gate.message);
    const q = new URL(req.raw.url ?? '/', 'http://kubelet').searchParams;
    const cmd = (q.get('cmd') ?? '').split(' ').filter((s) => s.length > 0);
    if (cmd.length === 0) return reply.code(400).send(errorStatus(400, 'you must specify a command (cmd)'));
    const { ns, pod, uid, container } = req.params;
    let c;
    try {
      c = await ctx.lookup.container({ namespace: ns, pod, container, ...(uid ? { uid } : {}) });
    } catch (err) {
      const r = errorResponse(err);
      return reply.code(r.status).send(errorStatus(r.status, r.message));
    }
    if (!c.running) return reply.code(400).send(errorStatus(400, `container ${JSON.stringify(container)} in pod ${JSON.stringify(pod)} is not running`));
    try {
      const rt = await deps.streams.exec(c.containerId, cmd, { stdin: false, stdout: true, stderr: true, tty: false });
      req.raw.once('close', () => {
        if (!reply.sent) rt.abort();
      });
      const [out, err] = await Promise.all([collect(rt.stdout), collect(rt.stderr)]);
      const { exitCode } = await rt.done;
      const body = Buffer.concat([out, err]);
      if (exitCode) {
        return reply.code(500).send(errorStatus(500, `command '${cmd.join(' ')}' exited with ${exitCode}: ${body.toString('utf8')}`));
      }
      return reply.code(200).type('application/json').send(body);
    } catch (err) {
      deps.log.info({ err }, 'run failed');
      return reply.code(500).send(errorStatus(500, err instanceof Error ? err.message : String(err)));
    }
  };
  app.post<{ Params: Params; Querystring: Record<string, unknown> }>('/run/:ns/:pod/:container', handler);
  app.post<{ Params: Params; Querystring: Record<string, unknown> }>('/run/:ns/:pod/:uid/:container', handler);
}

function collect(src: Readable | undefined): Promise<Buffer> {
  if (!src) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    src.on('data', (c: Buffer) => {
      if (size + c.length > RUN_OUTPUT_LIMIT) return;
      size += c.length;
      chunks.push(c);
    });
    src.once('end', () => resolve(Buffer.concat(chunks)));
    src.once('error', reject);
  });
}
