import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { canListen, freePort } from '../../cluster/net.js';
import { PortClaims, wantedClaims } from '../../../proxy/port-claims.js';
import type { ServicePortEntry } from '../../../proxy/types.js';

const entry = (key: string, o: Partial<ServicePortEntry>): ServicePortEntry => ({
  key, namespace: 'ns', service: 'svc', portName: 'p', protocol: 'TCP', clusterIPs: ['10.96.0.1'], externalIPs: [], port: 80, nodePort: 0,
  sessionAffinity: 'None', affinityTimeoutSeconds: 10800, internalTrafficPolicy: 'Cluster', endpoints: [], ...o,
});

test('wanted: NodePorts on every address, externalIPs only when local, one claim per protocol/address/port', () => {
  const w = wantedClaims([
    entry('ns/a:http', { nodePort: 30080, externalIPs: ['192.0.2.9', '198.51.100.1'] }),
    entry('ns/a:dns', { protocol: 'UDP', port: 53, nodePort: 30053 }),
    entry('ns/b:http', { nodePort: 30080 }),
    // Under eTP Local the NodePort lives on the external entry; it is named after its service port.
    entry('ns/c:http/external', { clusterKey: 'ns/c:http', nodePort: 30090, externalIPs: ['192.0.2.9'], port: 8080 }),
    // A local externalIP on a port already held on every address needs nothing more.
    entry('ns/d:http', { nodePort: 30091, externalIPs: ['192.0.2.9'], port: 30080 }),
    entry('ns/e:plain', {}),
  ], ['192.0.2.9']);
  assert.deepEqual(Object.fromEntries(w), {
    'tcp/0.0.0.0:30080': { protocol: 'TCP', ip: '0.0.0.0', port: 30080, owners: ['ns/a:http', 'ns/b:http', 'ns/d:http'] },
    'tcp/192.0.2.9:80': { protocol: 'TCP', ip: '192.0.2.9', port: 80, owners: ['ns/a:http'] },
    'udp/0.0.0.0:30053': { protocol: 'UDP', ip: '0.0.0.0', port: 30053, owners: ['ns/a:dns'] },
    'tcp/0.0.0.0:30090': { protocol: 'TCP', ip: '0.0.0.0', port: 30090, owners: ['ns/c:http'] },
    'tcp/192.0.2.9:8080': { protocol: 'TCP', ip: '192.0.2.9', port: 8080, owners: ['ns/c:http'] },
    'tcp/0.0.0.0:30091': { protocol: 'TCP', ip: '0.0.0.0', port: 30091, owners: ['ns/d:http'] },
  });
});

const claims = new PortClaims();
after(() => claims.stop());

async function udpFree(port: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

test('claims hold TCP and UDP ports until they are no longer wanted; a TCP connection that reaches one is reset', async () => {
  const [tp, up] = [await freePort(), await freePort()];
  const wanted = wantedClaims([entry('ns/a:http', { nodePort: tp }), entry('ns/a:dns', { protocol: 'UDP', nodePort: up })], []);
  await claims.sync(wanted);
  assert.deepEqual(claims.held(), [`tcp/0.0.0.0:${tp}`, `udp/0.0.0.0:${up}`].sort());
  assert.equal(await canListen('0.0.0.0', tp), false);
  assert.equal(await canListen('127.0.0.1', tp), false);
  assert.equal(await udpFree(up), false);
  const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const c = net.connect(tp, '127.0.0.1');
    c.on('error', (e) => resolve(e));
    c.on('close', () => resolve(null));
    c.resume();
  });
  assert.equal(err?.code, 'ECONNRESET');
  await claims.sync(wanted);
  assert.deepEqual(claims.held(), [`tcp/0.0.0.0:${tp}`, `udp/0.0.0.0:${up}`].sort(), 'a second sync changes nothing');
  await claims.sync(new Map());
  assert.deepEqual(claims.held(), []);
  assert.equal(await canListen('0.0.0.0', tp), true);
  assert.equal(await udpFree(up), true);
});

test('a port another process holds is reported and retried: claimed once it is free', async () => {
  const port = await freePort();
  const other = net.createServer();
  await new Promise<void>((r) => other.listen(port, '127.0.0.1', r));
  const wanted = wantedClaims([entry('ns/a:http', { nodePort: port })], []);
  await claims.sync(wanted);
  assert.deepEqual(claims.held(), []);
  assert.match(claims.failed().get(`tcp/0.0.0.0:${port}`) ?? '', /EADDRINUSE/);
  await new Promise<void>((r) => other.close(() => r()));
  await claims.sync(wanted);
  assert.deepEqual(claims.held(), [`tcp/0.0.0.0:${port}`]);
  assert.equal(claims.failed().size, 0);
  await claims.sync(new Map());
});
