// Runs dockerlet's TCP data path (one TcpListener with a static endpoint) as its own process,
// optionally sharded over Node cluster workers sharing one listening socket, or over dockerlet's own
// proxy shard processes (ShardPool: the primary keeps accepting, children accept on copies of its socket).
// argv[2]: JSON { routes: [{ port, backendHost, backendPort }], mode?, highWaterMark?, workers?, sched?, shards? }
import cluster from 'node:cluster';
import { Balancer, type BalancerConfig } from '../../proxy/balancer.js';
import { TCP_DEFAULTS, TcpListener } from '../../proxy/tcp.js';
import type { DataPathMode } from '../../proxy/conn.js';
import { ShardPool } from '../../proxy/shards/pool.js';
import { resolveDataPath } from '../../proxy/native/engine.js';
import type { EndpointInfo } from '../../proxy/types.js';

export interface ChildConfig {
  routes: { port: number; backendHost: string; backendPort: number }[];
  mode?: DataPathMode;
  highWaterMark?: number;
  idleTimeoutMs?: number;
  readBufferSize?: number;
  workers?: number;
  /** 'rr' = the primary accepts and hands sockets round robin; 'none' = workers accept from the shared socket. */
  sched?: 'rr' | 'none';
  /** Proxy shard processes (ShardPool) accepting next to this process; not combinable with workers. */
  shards?: number;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;

const balancerConfig: BalancerConfig = { nodeName: 'bench', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 };

async function serve(): Promise<void> {
  const listeners: TcpListener[] = [];
  const shards = cfg.shards ?? 0;
  // Shard processes inherit the env: keep their routine logs off the stdout the bench parses.
  if (shards > 0) process.env.DOCKERLET_LOG_LEVEL ??= 'warn';
  const pool = shards > 0 ? new ShardPool({ shards }) : null;
  if (pool) await pool.start(new AbortController().signal);
  // Shards accept on copies of JavaScript listening sockets: the native relay has none to share.
  const mode = resolveDataPath(cfg.mode, shards).mode;
  for (const r of cfg.routes) {
    const endpoints: EndpointInfo[] = [{ ip: r.backendHost, port: r.backendPort, ready: true, serving: true, terminating: false }];
    const key = `bench/proxy:${r.port}`;
    const l = new TcpListener({ key, balancer: new Balancer(balancerConfig), port: r.port, bindAddress: '127.0.0.1', mode, highWaterMark: cfg.highWaterMark, idleTimeoutMs: cfg.idleTimeoutMs, readBufferSize: cfg.readBufferSize });
    l.setEndpoints(endpoints);
    await l.start();
    listeners.push(l);
    await pool?.attach(key, l.server!, {
      balancerConfig, endpoints, mode, highWaterMark: cfg.highWaterMark, readBufferSize: cfg.readBufferSize,
      idleTimeoutMs: cfg.idleTimeoutMs ?? TCP_DEFAULTS.idleTimeoutMs, maxConnections: TCP_DEFAULTS.maxConnections,
    });
  }
  const stop = () => {
    void Promise.all([pool?.stop(), ...listeners.map((l) => l.stop())]).then(() => process.exit(0));
    setTimeout(() => process.exit(0), 4000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (!cluster.isWorker) console.log(`listening ${listeners.map((l) => l.port).join(' ')}${pool ? ` shards=${pool.pids().length}` : ''}`);
}

const workers = cfg.workers ?? 1;
if ((cfg.shards ?? 0) > 0 && workers > 1) throw new Error('shards and cluster workers cannot be combined');
if (workers > 1 && cluster.isPrimary) {
  cluster.schedulingPolicy = cfg.sched === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
  for (let i = 0; i < workers; i++) cluster.fork();
  let up = 0;
  const want = workers * cfg.routes.length;
  cluster.on('listening', () => { if (++up === want) console.log(`listening workers=${workers}`); });
  const stop = () => { for (const w of Object.values(cluster.workers ?? {})) w?.kill(); setTimeout(() => process.exit(0), 500).unref(); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  await serve();
}
