// The kubelet server's metrics and stats routes (pkg/kubelet/server/server.go InstallDefaultHandlers /
// InstallSystemLogHandler): /metrics, /metrics/cadvisor, /metrics/resource, /metrics/probes and
// /stats/summary. The server applies authentication and authorization (nodes/metrics for /metrics*,
// nodes/stats for /stats/*) to every route before these handlers run. Handlers only format the
// collector's cached snapshot; the Prometheus texts are formatted (and gzipped) once per snapshot.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { RoutePlugin, ServerContext } from '../agent/server/types.js';
import { agentMetricsText, collectProcessMetrics, probeRegistry, registerSnapshotGauges } from './agent-metrics.js';
import type { Collector } from './collector.js';
import { sendBody, snapshotBodies } from './format/body.js';
import { formatCadvisor } from './format/cadvisor.js';
import { formatResource } from './format/resource.js';
import { buildSummary } from './format/summary.js';
import { CONTENT_TYPE } from './format/text.js';
import type { Snapshot } from './types.js';

export interface MetricsRoutesOptions {
  nodeName: string;
  /** Explicit timestamps on /metrics/cadvisor samples (cAdvisor's behaviour); default true. */
  timestamps?: boolean;
  /** Serve /metrics (the agent's own); default true. */
  agentMetrics?: boolean;
}

/** The subresource each path is authorized against (for the server's gate). */
export function metricsSubresource(path: string): 'metrics' | 'stats' | undefined {
  if (path === '/metrics' || path.startsWith('/metrics/')) return 'metrics';
  if (path === '/stats' || path.startsWith('/stats/')) return 'stats';
  return undefined;
}

function notReady(reply: FastifyReply) {
  return reply.code(503).type('text/plain; charset=utf-8').send('metrics are not collected yet\n');
}

/** Registers the metrics/stats routes on a fastify app (the kubelet server or the standalone one). */
export function installMetricsRoutes(app: FastifyInstance, collector: Collector, opts: MetricsRoutesOptions, log?: ServerContext['log']): void {
  const cadvisorOpts = { mode: 'kubelet', timestamps: opts.timestamps ?? true } as const;
  const cadvisor = snapshotBodies(collector, (s) => formatCadvisor(s, cadvisorOpts));
  const resource = snapshotBodies(collector, formatResource);
  const snap = (): Snapshot | undefined => collector.snapshot();
  if (opts.agentMetrics !== false) {
    collectProcessMetrics();
    registerSnapshotGauges(snap, () => collector.lastHousekeepingMs);
    app.get('/metrics', async (_req, reply) => reply.type(CONTENT_TYPE).send(await agentMetricsText()));
  }
  app.get('/metrics/cadvisor', async (req, reply) => {
    const s = snap();
    if (!s) return notReady(reply);
    return sendBody(req, reply, cadvisor, s);
  });
  app.get('/metrics/resource', async (req, reply) => {
    const s = snap();
    if (!s) return notReady(reply);
    return sendBody(req, reply, resource, s);
  });
  app.get('/metrics/probes', async (_req, reply) => reply.type(CONTENT_TYPE).send(await probeRegistry.metrics()));
  const summary = async (req: { query: unknown }, reply: FastifyReply) => {
    const s = snap();
    if (!s) return notReady(reply);
    const q = (req.query ?? {}) as Record<string, string | undefined>;
    const only = q.only_cpu_and_memory === 'true';
    return reply.type('application/json').send(buildSummary(s, { nodeName: opts.nodeName, onlyCpuAndMemory: only }));
  };
  app.get('/stats/summary', summary);
  app.post('/stats/summary', summary);
  log?.debug('metrics routes installed');
}

/** The kubelet server's plugin: call with the agent's collector; the server wires it into build(). */
export function registerMetricsRoutes(collector: Collector, opts: MetricsRoutesOptions): RoutePlugin {
  return (app: FastifyInstance, ctx: ServerContext) => installMetricsRoutes(app, collector, opts, ctx.log);
}
