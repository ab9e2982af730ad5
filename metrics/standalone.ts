// `dockerlet metrics`: container metrics for a plain Docker host with no Kubernetes, served the way
// people run cAdvisor today (`cadvisor --docker_only`): plain HTTP on port 8080, GET /metrics with
// cAdvisor's names and default labels (id, name, image, container_label_* from Docker labels),
// GET /healthz. Bound to loopback unless told otherwise. The collector is the same as the agent's.
import Dockerode from 'dockerode';
import Fastify, { type FastifyInstance } from 'fastify';
import { systemClock, type Clock } from '../lib/clock.js';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import { partLogger, type Logger } from '../lib/log.js';
import { Collector } from './collector.js';
import { sendBody, snapshotBodies } from './format/body.js';
import { formatCadvisor } from './format/cadvisor.js';

export interface StandaloneOptions {
  /** Listen address (default 127.0.0.1). */
  address?: string;
  /** Listen port (default 8080, cAdvisor's); 0 picks a free one. */
  port?: number;
  /** Housekeeping interval, ms (default 10 000). */
  housekeepingMs?: number;
  /** OOM counts persist here (default: in memory only). */
  stateDir?: string;
  /** Docker socket (default dockerode's: DOCKER_HOST or /var/run/docker.sock). */
  dockerSocket?: string;
  /** Docker labels exported as container_label_*: 'all' (cAdvisor's default), 'none', or a list. */
  containerLabels?: 'all' | 'none' | string[];
  /** Explicit sample timestamps, as cAdvisor (default true). */
  timestamps?: boolean;
  /** Count open fds per container (default true). */
  countFds?: boolean;
  /** More routes on the same server and collector (e.g. the kubelet's metrics routes, for the bench). */
  plugins?: ((app: FastifyInstance, collector: Collector) => void)[];
  log?: Logger;
  clock?: Clock;
}

export interface StandaloneHandle {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  collector: Collector;
  /** Resolves once the server and collector have stopped (after the signal aborts). */
  closed: Promise<void>;
}

/** Validates options once at the edge; throws DKL_ERR_CONFIG_INVALID naming the field. */
export function validateStandaloneOptions(o: StandaloneOptions): Readonly<StandaloneOptions> {
  const bad = (field: string, why: string) => new DockerletError(ErrorCodes.CONFIG_INVALID, `metrics: ${field}: ${why}`, { details: { field } });
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535)) throw bad('port', `expected 0..65535, got ${o.port}`);
  if (o.housekeepingMs !== undefined && (!Number.isFinite(o.housekeepingMs) || o.housekeepingMs < 100)) {
    throw bad('housekeeping-interval', `expected at least 100 ms, got ${o.housekeepingMs}`);
  }
  if (o.containerLabels !== undefined && !Array.isArray(o.containerLabels) && !['all', 'none'].includes(o.containerLabels)) {
    throw bad('container-labels', `expected all, none or a comma-separated list, got "${String(o.containerLabels)}"`);
  }
  return Object.freeze({ ...o });
}

/** Starts the collector and the HTTP server; returns once listening. Stops when `signal` aborts. */
export async function runStandaloneMetrics(options: StandaloneOptions, signal: AbortSignal): Promise<StandaloneHandle> {
  const opts = validateStandaloneOptions(options);
  const log = partLogger(opts.log, 'metrics');
  const clock = opts.clock ?? systemClock;
  const docker = new Dockerode(opts.dockerSocket ? { socketPath: opts.dockerSocket } : undefined);
  const collector = new Collector({ docker, clock, log }, {
    housekeepingMs: opts.housekeepingMs ?? 10_000, podsOnly: false, stateDir: opts.stateDir, countFds: opts.countFds ?? true,
  });
  const app = Fastify({ logger: false });
  const format = { mode: 'docker', timestamps: opts.timestamps ?? true, containerLabels: opts.containerLabels ?? 'all' } as const;
  const bodies = snapshotBodies(collector, (s) => formatCadvisor(s, format));
  app.get('/metrics', async (req, reply) => {
    const s = collector.snapshot();
    if (!s) return reply.code(503).send('metrics are not collected yet\n');
    return sendBody(req, reply, bodies, s);
  });
  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok'));
  for (const plugin of opts.plugins ?? []) plugin(app, collector);
  const ac = new AbortController();
  const abort = () => ac.abort();
  signal.addEventListener('abort', abort, { once: true });
  await collector.start(ac.signal);
  let url: string;
  try {
    url = await app.listen({ host: opts.address ?? '127.0.0.1', port: opts.port ?? 8080 });
  } catch (err) {
    await collector.stop();
    throw new DockerletError(ErrorCodes.METRICS, `metrics: cannot listen on ${opts.address ?? '127.0.0.1'}:${opts.port ?? 8080}: ${(err as Error).message}`, { cause: err });
  }
  log.info({ url }, 'serving container metrics');
  const closed = new Promise<void>((resolve) => {
    const stop = async () => {
      await app.close().catch(() => undefined);
      await collector.stop();
      resolve();
    };
    if (ac.signal.aborted) void stop();
    else ac.signal.addEventListener('abort', () => void stop(), { once: true });
  });
  return { url, collector, closed };
}
