// kube-proxy's health server (pkg/proxy/healthcheck/proxy_health.go): /healthz and /livez answer
// JSON {lastUpdated, currentTime, nodeEligible (healthz only)}; 503 when a queued update has waited
// longer than the health timeout (2 × the sync period) without being applied, and /healthz also
// while the node is not eligible (KEP-3836: being deleted or tainted ToBeDeletedByClusterAutoscaler).
// As upstream, a healthy answer's lastUpdated is the current time.
import http from 'node:http';
import { systemClock, type Clock } from '../lib/clock.js';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import { partLogger, type Logger } from '../lib/log.js';

export class ProxyHealth {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  #lastUpdated = 0;
  #oldestPendingQueued = 0;
  /** Served responses by `healthz:200`, `livez:503`, ... */
  readonly served = new Map<string, number>();

  constructor(opts: { healthTimeoutMs: number; clock?: Clock }) {
    this.#timeoutMs = opts.healthTimeoutMs;
    this.#clock = opts.clock ?? systemClock;
  }

  /** A change is waiting for a sync (keeps the oldest such time). */
  queuedUpdate(): void {
    if (this.#oldestPendingQueued === 0) this.#oldestPendingQueued = this.#clock.now();
  }

  /** A sync applied everything that was queued. */
  updated(): void {
    this.#lastUpdated = this.#clock.now();
    this.#oldestPendingQueued = 0;
  }

  lastUpdated(): number {
    return this.#lastUpdated;
  }

  isHealthy(): boolean {
    if (this.#oldestPendingQueued === 0) return true;
    return this.#clock.now() - this.#oldestPendingQueued < this.#timeoutMs;
  }

  /** Status code and JSON body for /healthz or /livez. */
  report(path: 'healthz' | 'livez', nodeEligible = true): { code: number; body: Record<string, unknown> } {
    const healthy = this.isHealthy() && (path === 'livez' || nodeEligible);
    const now = this.#clock.now();
    const body: Record<string, unknown> = {
      lastUpdated: new Date(healthy ? now : this.#lastUpdated).toISOString(),
      currentTime: new Date(now).toISOString(),
    };
    if (path === 'healthz') body.nodeEligible = nodeEligible;
    const code = healthy ? 200 : 503;
    const k = `${path}:${code}`;
    this.served.set(k, (this.served.get(k) ?? 0) + 1);
    return { code, body };
  }
}

/** Serves a request handler on host:port; start resolves with the bound port. */
export class SmallHttpServer {
  #server: http.Server | null = null;
  #port = 0;
  constructor(
    private readonly name: string,
    private readonly opts: { host: string; port: number; log?: Logger },
    private readonly handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  ) {}

  async start(): Promise<number> {
    const log = partLogger(this.opts.log, 'proxy-http', { server: this.name });
    const server = http.createServer((req, res) => {
      try {
        this.handler(req, res);
      } catch (err) {
        log.warn({ err }, `${this.name} handler failed`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new DockerletError(ErrorCodes.PROXY, `${this.name} listen on ${this.opts.host}:${this.opts.port} failed: ${err.message}`, { cause: err })));
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.#server = server;
    const a = server.address();
    this.#port = typeof a === 'object' && a ? a.port : 0;
    return this.#port;
  }

  get port(): number {
    return this.#port;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    this.#server = null;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export function healthServer(health: ProxyHealth, opts: { host: string; port: number; log?: Logger; nodeEligible?: () => boolean }): SmallHttpServer {
  return new SmallHttpServer('healthz', opts, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('404 page not found\n');
      return;
    }
    const { code, body } = health.report(path === '/healthz' ? 'healthz' : 'livez', opts.nodeEligible?.());
    res.writeHead(code, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
    res.end(JSON.stringify(body));
  });
}
