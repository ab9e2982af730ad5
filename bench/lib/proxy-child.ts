// Runs dockerlet's TCP data path (one TcpListener with a static endpoint) as its own process,
// optionally sharded over Node cluster workers sharing one listening socket.
// argv[2]: JSON { routes: [{ port, backendHost, backendPort }], mode?, highWaterMark?, workers?, sched? }
import cluster from 'node:cluster';
import { Balancer } from '../../proxy/balancer.js';
import { TcpListener } from '../../proxy/tcp.js';
import type { DataPathMode } from '../../proxy/conn.js';

export interface ChildConfig {
  routes: { port: number; backendHost: string; backendPort: number }[];
  mode?: DataPathMode;
  highWaterMark?: number;
  idleTimeoutMs?: number;
  readBufferSize?: number;
  workers?: number;
  /** 'rr' = the primary accepts and hands sockets round robin; 'none' = workers accept from the shared socket. */
  sched?: 'rr' | 'none';
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;

async function serve(): Promise<void> {
  const listeners: TcpListener[] = [];
  for (const r of cfg.routes) {
    const balancer = new Balancer({ nodeName: 'bench', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 });
    const l = new TcpListener({ key: `bench/proxy:${r.port}`, balancer, port: r.port, bindAddress: '127.0.0.1', mode: cfg.mode, highWaterMark: cfg.highWaterMark, idleTimeoutMs: cfg.idleTimeoutMs, readBufferSize: cfg.readBufferSize });
    l.setEndpoints([{ ip: r.backendHost, port: r.backendPort, ready: true, serving: true, terminating: false }]);
    await l.start();
    listeners.push(l);
  }
  const stop = () => { void Promise.all(listeners.map((l) => l.stop())).then(() => process.exit(0)); setTimeout(() => process.exit(0), 1000).unref(); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (!cluster.isWorker) console.log(`listening ${listeners.map((l) => l.port).join(' ')}`);
}

const workers = cfg.workers ?? 1;
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
