// Runs dockerlet's TCP data path (one TcpListener per route with a static endpoint) as its own
// process, for bench/proxy.ts: the native relay by default, or the pump.
// argv[2]: JSON { routes: [{ port, backendHost, backendPort }], mode?, highWaterMark?, idleTimeoutMs? }
import { Balancer, type BalancerConfig } from '../../proxy/balancer.js';
import { TcpListener } from '../../proxy/tcp.js';
import type { DataPathMode } from '../../proxy/conn.js';
import { resolveDataPath } from '../../proxy/native/engine.js';
import type { EndpointInfo } from '../../proxy/types.js';

export interface ChildConfig {
  routes: { port: number; backendHost: string; backendPort: number }[];
  mode?: DataPathMode;
  highWaterMark?: number;
  idleTimeoutMs?: number;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;

const balancerConfig: BalancerConfig = { nodeName: 'bench', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 };

const listeners: TcpListener[] = [];
const mode = resolveDataPath(cfg.mode).mode;
for (const r of cfg.routes) {
  const endpoints: EndpointInfo[] = [{ ip: r.backendHost, port: r.backendPort, ready: true, serving: true, terminating: false }];
  const l = new TcpListener({ key: `bench/proxy:${r.port}`, balancer: new Balancer(balancerConfig), port: r.port, bindAddress: '127.0.0.1', mode, highWaterMark: cfg.highWaterMark, idleTimeoutMs: cfg.idleTimeoutMs });
  l.setEndpoints(endpoints);
  await l.start();
  listeners.push(l);
}
const stop = () => {
  void Promise.all(listeners.map((l) => l.stop())).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 4000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log(`listening ${listeners.map((l) => l.port).join(' ')} mode=${mode}`);
