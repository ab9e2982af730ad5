// Shared fixture of the native relay tests (unit and integration): loopback backends that answer with
// their name, one-shot requests, native listeners, and a child process running a default-mode listener.
// Everything a helper starts is stopped by the test file's after() hook through `cleanups`.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { Balancer, type BalancerConfig } from '../../../proxy/balancer.js';
import { TcpListener } from '../../../proxy/tcp.js';
import { nativeRelayUnavailable } from '../../../proxy/native/engine.js';
import type { EndpointInfo } from '../../../proxy/types.js';

export interface RelayFixture {
  cleanups: (() => Promise<void> | void)[];
  /** A backend on host:0 that answers every connection with `reply` once the client half-closes. */
  namedBackend(host: string, reply: string): Promise<number>;
  /** One connection to 127.0.0.1:port (from localAddress) that sends 'x', half-closes and returns the reply. */
  request(port: number, localAddress?: string): Promise<string>;
  /** A started native-mode listener on 127.0.0.1 with these endpoints. */
  nativeListener(endpoints: EndpointInfo[], config?: Partial<BalancerConfig>): Promise<TcpListener>;
  /** A child process with a default-mode listener to 127.0.0.2:backendPort: its mode, port and the reason for a fallback. */
  childListener(backendPort: number, env: Record<string, string>): Promise<{ mode: string; port: number; why: string }>;
}

export const ep = (ip: string, port: number): EndpointInfo => ({ ip, port, ready: true, serving: true, terminating: false });

/** The fixture for one test file; `name` keys its listeners. Registers the after() hook that cleans up. */
export function relayFixture(name: string): RelayFixture {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => { for (const c of cleanups.reverse()) await c(); });
  return {
    cleanups,
    async namedBackend(host, reply) {
      const server = net.createServer({ allowHalfOpen: true }, (s) => {
        s.on('error', () => s.destroy());
        s.on('data', () => {});
        s.on('end', () => s.end(reply));
      });
      await new Promise<void>((r) => server.listen(0, host, r));
      cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
      return (server.address() as net.AddressInfo).port;
    },
    request(port, localAddress = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        const c = net.connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen: true }, () => c.end('x'));
        let out = '';
        c.on('data', (d) => { out += d.toString(); });
        c.on('end', () => { c.end(); resolve(out); });
        c.on('error', reject);
      });
    },
    async nativeListener(endpoints, config = {}) {
      const balancer = new Balancer({ nodeName: 'n1', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0, ...config });
      const l = new TcpListener({ key: `test/${name}:p`, balancer, bindAddress: '127.0.0.1', mode: 'native' });
      assert.equal(l.mode, 'native', nativeRelayUnavailable());
      l.setEndpoints(endpoints);
      await l.start();
      cleanups.push(() => l.stop());
      return l;
    },
    childListener(backendPort, env) {
      const script = `
        import { Balancer } from './proxy/balancer.ts';
        import { TcpListener } from './proxy/tcp.ts';
        import { nativeRelayUnavailable } from './proxy/native/engine.ts';
        const l = new TcpListener({ key: 'child/${name}:p', bindAddress: '127.0.0.1',
          balancer: new Balancer({ nodeName: 'n', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 }) });
        l.setEndpoints([{ ip: '127.0.0.2', port: ${backendPort}, ready: true, serving: true, terminating: false }]);
        const port = await l.start();
        console.log(JSON.stringify({ mode: l.mode, port, why: nativeRelayUnavailable() }));`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
      cleanups.push(() => { child.kill('SIGKILL'); });
      return new Promise((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString().trim()) as { mode: string; port: number; why: string }));
        child.once('exit', (code) => reject(new Error(`child exited (${code}) before listening`)));
      });
    },
  };
}
