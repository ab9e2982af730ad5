// A Docker Engine API pass-through on a private unix socket for the pod-startup bench.
// (1) Scoping: `GET /containers/json` answers only containers of one pod namespace, so the agent
// under test neither adopts nor garbage-collects containers of other agents sharing this dockerd
// (and its relist cost does not depend on them). (2) Evidence: it counts every Engine call the agent
// makes (by route), with latency and in-flight concurrency, and (3) per pod, the wall-clock span of
// its container create/start calls, so a pod's startup splits into Docker time and the agent's own.
import http from 'node:http';
import type { Socket } from 'node:net';
import { rmSync } from 'node:fs';

const NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
const STREAMING = new Set(['GET /events']);

export interface RouteStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

/** One pod's container create/start calls through the pass-through (epoch ms, sub-ms precision). */
export interface PodCallTimes {
  uid: string;
  /** The first create request received (the agent's first Docker call for the pod). */
  firstCallMs: number;
  /** The end of the last create/start answer. */
  lastCallEndMs: number;
  /** Sum of the create/start call durations (they run one after another within a pod). */
  inCallMs: number;
  calls: number;
}

const nowMs = () => performance.timeOrigin + performance.now();

export interface DockerCallStats {
  routes: Record<string, RouteStats>;
  /** Most non-streaming calls in flight at once. */
  maxInFlight: number;
  /** Most create/start calls in flight at once. */
  maxMutatingInFlight: number;
  /** Time-weighted mean of create/start calls in flight while at least one was. */
  meanMutatingInFlight: number;
  /** Wall ms with at least one create/start call in flight (Docker busy on the agent's behalf). */
  mutatingBusyMs: number;
  /** Inspects of a container whose start was in flight (Docker holds the container lock while starting). */
  inspectsDuringStart: RouteStats;
  /** Containers listed before filtering / after (summed over list calls). */
  listedRaw: number;
  listedKept: number;
}

/** `POST /v1.41/containers/abc.../start` → `POST /containers/{id}/start`. */
export function routeOf(method: string, url: string): string {
  const path = url.split('?')[0]!.replace(/^\/v\d+(\.\d+)?/, '');
  const parts = path.split('/').filter(Boolean);
  if (parts[0] === 'containers' && parts.length >= 2 && parts[1] !== 'json' && parts[1] !== 'create' && parts[1] !== 'prune') parts[1] = '{id}';
  if (parts[0] === 'images' && parts.length >= 3) return `${method} /images/{name}/${parts[parts.length - 1]}`;
  if (parts[0] === 'exec' && parts.length >= 2) parts[1] = '{id}';
  return `${method} /${parts.join('/')}`;
}

function containerIdOf(url: string): string | undefined {
  const m = /^(?:\/v[\d.]+)?\/containers\/([^/?]+)\/(?:json|start)/.exec(url);
  return m && m[1] !== 'json' && m[1] !== 'create' ? m[1] : undefined;
}

function isMutating(route: string): boolean {
  return route === 'POST /containers/create' || route === 'POST /containers/{id}/start';
}

/** Keeps the containers whose pod-namespace label is `namespace`. */
export function filterContainerList(body: string, namespace: string): { json: string; raw: number; kept: number } {
  const list = JSON.parse(body) as { Labels?: Record<string, string> }[];
  const kept = list.filter((c) => c.Labels?.[NAMESPACE_LABEL] === namespace);
  return { json: JSON.stringify(kept), raw: list.length, kept: kept.length };
}

export class DockerFilterProxy {
  readonly #upstream: string;
  readonly #socket: string;
  readonly #namespace: string;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  #server: http.Server | undefined;
  #stats = emptyStats();
  #inFlight = 0;
  #mutating = 0;
  #mutatingSince = 0;
  #mutatingArea = 0;
  #mutatingBusyMs = 0;
  readonly #starting = new Set<string>();
  /** Container id → pod UID, learnt from create requests (labels) and their answers (Id). */
  readonly #podOf = new Map<string, string>();
  #pods = new Map<string, PodCallTimes>();

  constructor(opts: { socketPath: string; namespace: string; upstream?: string }) {
    this.#socket = opts.socketPath;
    this.#namespace = opts.namespace;
    this.#upstream = opts.upstream ?? '/var/run/docker.sock';
  }

  get socketPath(): string {
    return this.#socket;
  }

  async start(): Promise<void> {
    rmSync(this.#socket, { force: true });
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 60_000;
    // Hijacked streams (attach/exec upgrade) are not used by the bench's pods.
    server.on('upgrade', (_req, sock: Socket) => sock.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#socket, () => resolve());
    });
    this.#server = server;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    this.#agent.destroy();
    rmSync(this.#socket, { force: true });
  }

  /** Starts a fresh measurement window. */
  reset(): void {
    this.#stats = emptyStats();
    this.#mutatingArea = 0;
    this.#mutatingBusyMs = 0;
    this.#mutatingSince = performance.now();
    this.#pods = new Map();
  }

  /** Per pod UID, the create/start calls seen since the last reset(). */
  podCalls(): Map<string, PodCallTimes> {
    return new Map([...this.#pods].map(([k, v]) => [k, { ...v }]));
  }

  #recordPodCall(uid: string | undefined, startMs: number, endMs: number): void {
    if (!uid) return;
    const p = this.#pods.get(uid);
    if (!p) {
      this.#pods.set(uid, { uid, firstCallMs: startMs, lastCallEndMs: endMs, inCallMs: endMs - startMs, calls: 1 });
      return;
    }
    p.firstCallMs = Math.min(p.firstCallMs, startMs);
    p.lastCallEndMs = Math.max(p.lastCallEndMs, endMs);
    p.inCallMs += endMs - startMs;
    p.calls++;
  }

  snapshot(): DockerCallStats {
    this.#accrue();
    const s = this.#stats;
    return {
      ...s,
      routes: Object.fromEntries(Object.entries(s.routes).map(([k, v]) => [k, { ...v }])),
      inspectsDuringStart: { ...s.inspectsDuringStart },
      meanMutatingInFlight: this.#mutatingBusyMs > 0 ? this.#mutatingArea / this.#mutatingBusyMs : 0,
      mutatingBusyMs: Math.round(this.#mutatingBusyMs),
    };
  }

  #accrue(): void {
    const now = performance.now();
    const dt = now - this.#mutatingSince;
    if (this.#mutating > 0) {
      this.#mutatingArea += dt * this.#mutating;
      this.#mutatingBusyMs += dt;
    }
    this.#mutatingSince = now;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const route = routeOf(req.method ?? 'GET', req.url ?? '/');
    const streaming = STREAMING.has(route);
    const mutating = isMutating(route);
    const t0 = performance.now();
    const wall0 = nowMs();
    const id = containerIdOf(req.url ?? '');
    const isCreate = route === 'POST /containers/create';
    const reqChunks: Buffer[] = [];
    const resChunks: Buffer[] = [];
    if (isCreate) req.on('data', (c: Buffer) => reqChunks.push(c));
    const isStart = route === 'POST /containers/{id}/start';
    if (isStart && id) this.#starting.add(id);
    const inspectDuringStart = route === 'GET /containers/{id}/json' && id !== undefined && this.#starting.has(id);
    if (!streaming) this.#stats.maxInFlight = Math.max(this.#stats.maxInFlight, ++this.#inFlight);
    if (mutating) {
      this.#accrue();
      this.#stats.maxMutatingInFlight = Math.max(this.#stats.maxMutatingInFlight, ++this.#mutating);
    }
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      if (isStart && id) this.#starting.delete(id);
      if (!streaming) this.#inFlight--;
      if (mutating) {
        this.#accrue();
        this.#mutating--;
      }
      if (streaming) return;
      const ms = performance.now() - t0;
      if (isStart && id) this.#recordPodCall(this.#podOf.get(id), wall0, nowMs());
      if (isCreate) this.#learnCreate(reqChunks, resChunks, wall0);
      const r = (this.#stats.routes[route] ??= { count: 0, totalMs: 0, maxMs: 0 });
      r.count++;
      r.totalMs += ms;
      r.maxMs = Math.max(r.maxMs, ms);
      if (inspectDuringStart) {
        const x = this.#stats.inspectsDuringStart;
        x.count++;
        x.totalMs += ms;
        x.maxMs = Math.max(x.maxMs, ms);
      }
    };
    const up = http.request({ socketPath: this.#upstream, method: req.method, path: req.url, headers: req.headers, agent: streaming ? false : this.#agent }, (ur) => {
      if (route === 'GET /containers/json' && ur.statusCode === 200) {
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => {
          try {
            const f = filterContainerList(Buffer.concat(chunks).toString('utf8'), this.#namespace);
            this.#stats.listedRaw += f.raw;
            this.#stats.listedKept += f.kept;
            const headers = { ...ur.headers };
            delete headers['transfer-encoding'];
            headers['content-length'] = String(Buffer.byteLength(f.json));
            res.writeHead(200, headers);
            res.end(f.json);
          } catch (err) {
            res.writeHead(502, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ message: `bench docker filter: ${(err as Error).message}` }));
          }
          done();
        });
        ur.on('error', () => { res.destroy(); done(); });
        return;
      }
      if (isCreate) ur.on('data', (c: Buffer) => resChunks.push(c));
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      res.flushHeaders();
      ur.pipe(res);
      ur.on('end', done);
      ur.on('error', () => { res.destroy(); done(); });
    });
    up.on('error', (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: `bench docker filter: ${err.message}` }));
      } else res.destroy();
      done();
    });
    res.on('close', () => { if (!res.writableFinished) up.destroy(); done(); });
    req.pipe(up);
  }

  #learnCreate(reqChunks: Buffer[], resChunks: Buffer[], startMs: number): void {
    try {
      const body = JSON.parse(Buffer.concat(reqChunks).toString('utf8')) as { Labels?: Record<string, string> };
      const uid = body.Labels?.['io.kubernetes.pod.uid'];
      const ans = JSON.parse(Buffer.concat(resChunks).toString('utf8')) as { Id?: string };
      if (!uid || !ans.Id) return;
      this.#podOf.set(ans.Id, uid);
      this.#recordPodCall(uid, startMs, nowMs());
    } catch {
      // not JSON (an error answer): not a container of a pod
    }
  }
}

function emptyStats(): DockerCallStats {
  return { routes: {}, maxInFlight: 0, maxMutatingInFlight: 0, meanMutatingInFlight: 0, mutatingBusyMs: 0, inspectsDuringStart: { count: 0, totalMs: 0, maxMs: 0 }, listedRaw: 0, listedKept: 0 };
}
