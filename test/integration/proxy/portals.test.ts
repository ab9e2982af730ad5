// iptables portals on the real nat table, with a test chain prefix so a real proxy is never touched.
// Host traffic to a ClusterIP (10.96.0.0/12) is DNATed by our OUTPUT chain to the listener on a node
// address (never loopback: no route_localnet); without the rule the egress guard would reject it, so
// it never leaves the host.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { Balancer } from '../../../proxy/balancer.js';
import { Portals } from '../../../proxy/iptables.js';
import { localIPv4s } from '../../../proxy/portal-specs.js';
import { TcpListener } from '../../../proxy/tcp.js';
import type { PortalSpec } from '../../../proxy/portals.js';

const PREFIX = 'DKLTEST';
const CLUSTER_IP = '10.96.123.45';
const ROUTE_LOCALNET = '/proc/sys/net/ipv4/conf/all/route_localnet';
const routeLocalnetBefore = readFileSync(ROUTE_LOCALNET, 'utf8').trim();
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await new Portals({ prefix: PREFIX }).cleanup().catch(() => undefined);
  writeFileSync(ROUTE_LOCALNET, `${routeLocalnetBefore}\n`);
});

const natRules = () => execFileSync('iptables', ['-w', '5', '-t', 'nat', '-S'], { encoding: 'utf8' }).split('\n');
const ours = () => natRules().filter((l) => l.includes(PREFIX));
const jumps = () => ours().filter((l) => /^-A (PREROUTING|OUTPUT) /.test(l));

function get(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host, port, allowHalfOpen: true }, () => c.end('hi'));
    let out = '';
    c.setTimeout(5000, () => c.destroy(new Error('timeout')));
    c.on('data', (d) => { out += d.toString(); });
    c.on('end', () => { c.end(); resolve(out); });
    c.on('error', reject);
  });
}

test('portal apply is idempotent (one set of jumps), intercepts ClusterIP and NodePort host traffic, cleanup removes everything', async () => {
  const backend = net.createServer({ allowHalfOpen: true }, (s) => { s.on('data', () => {}); s.on('end', () => s.end('from-backend')); });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.2', r));
  cleanups.push(() => new Promise<void>((r) => backend.close(() => r())));
  const balancer = new Balancer({ nodeName: 'n', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', affinityTimeoutSeconds: 0 });
  const l = new TcpListener({ key: 'test/portal:http', balancer, bindAddress: '0.0.0.0' });
  l.setEndpoints([{ ip: '127.0.0.2', port: (backend.address() as net.AddressInfo).port, ready: true, serving: true, terminating: false }]);
  const lport = await l.start();
  cleanups.push(() => l.stop());

  const nodePort = 30000 + (lport % 2700);
  const specs: PortalSpec[] = [
    { key: 'test/portal:http', protocol: 'TCP', ips: [CLUSTER_IP], port: 80, nodePort, listenerPort: lport },
    { key: 'test/portal:dns', protocol: 'UDP', ips: [CLUSTER_IP], port: 53, nodePort: 0, listenerPort: 40053 },
  ];
  const nodeIP = localIPv4s()[0]!;
  const p = new Portals({ prefix: PREFIX, nodeIP });
  await p.prepareHost();
  assert.equal(readFileSync(ROUTE_LOCALNET, 'utf8').trim(), routeLocalnetBefore, 'route_localnet is not touched');
  assert.equal(await p.apply(specs), true);
  assert.equal(await p.apply(specs), false, 'nothing to change the second time');
  assert.equal(jumps().length, 4);
  const hostRule = ours().find((l) => l.startsWith(`-A ${PREFIX}-PORTALS-HOST -d ${CLUSTER_IP}/32 -p tcp`));
  assert.ok(hostRule?.includes(`--to-destination ${nodeIP}:${lport}`), `host DNAT rule to the node address present: ${hostRule}`);

  // Through the OUTPUT DNAT to the listener on the node address (and loopback for the NodePort), then to the backend.
  assert.equal(await get(CLUSTER_IP, 80), 'from-backend');
  assert.equal(await get('127.0.0.1', nodePort), 'from-backend');

  // A restart after SIGKILL: a fresh instance (no memory of the last apply) and a duplicated jump.
  execFileSync('iptables', ['-w', '5', '-t', 'nat', '-A', 'PREROUTING', '-m', 'comment', '--comment', `${PREFIX.toLowerCase()} service portals`, '-j', `${PREFIX}-PORTALS-CONTAINER`]);
  assert.equal(jumps().length, 5);
  const p2 = new Portals({ prefix: PREFIX, nodeIP });
  assert.equal(await p2.apply(specs), true);
  assert.equal(jumps().length, 4);
  assert.equal(ours().filter((l) => l.startsWith(`-A ${PREFIX}-PORTALS-HOST`)).length, 2);
  assert.ok(natRules().some((l) => l.includes('-j DOCKER')), 'foreign rules untouched');

  await p2.cleanup();
  assert.deepEqual(ours(), []);
});
