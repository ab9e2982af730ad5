// dockerlet_watch_reconnects_total{resource}: every watch stream that ends for a reason other than the
// caller's abort (closed, gone, error, a failure to open) is one reconnection the caller has to make.
// Against a small fake apiserver on loopback (chunked HTTP watches), read from the agent's /metrics text.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createKubeClient } from '../../../kube/client.js';
import type { KubeConnection } from '../../../kube/connection.js';
import { watchResource } from '../../../kube/watch.js';
import { silentLogger } from '../../../lib/log.js';
import { agentMetricsText } from '../../../metrics/agent-metrics.js';

let server: http.Server;
let conn: KubeConnection;
let mode: 'close' | 'gone' | 'hang' = 'close';

before(async () => {
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    const ev = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
    if (mode === 'hang') return; // stays open until the client aborts
    ev('ADDED', { metadata: { name: 'a', namespace: 'd', resourceVersion: '6' } });
    if (mode === 'gone') ev('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  conn = Object.freeze({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, source: 'test', insecureSkipTlsVerify: false });
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function reconnects(resource: string): Promise<number> {
  const m = (await agentMetricsText()).match(new RegExp(`^dockerlet_watch_reconnects_total\\{resource="${resource}"\\} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : 0;
}

test('watchResource names the resource of a watch path', () => {
  assert.equal(watchResource('/api/v1/pods'), 'pods');
  assert.equal(watchResource('/api/v1/namespaces/default/pods'), 'pods');
  assert.equal(watchResource('/api/v1/nodes'), 'nodes');
  assert.equal(watchResource('/api/v1/namespaces'), 'namespaces');
  assert.equal(watchResource('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1'), 'leases');
  assert.equal(watchResource('/apis/discovery.k8s.io/v1/endpointslices?labelSelector=x'), 'endpointslices');
});

test('closed and gone streams count as reconnects of their resource; an abort does not', async () => {
  const c = createKubeClient(conn, { log: silentLogger(), watchTransport: 'http' });
  try {
    const pods0 = await reconnects('pods');
    const svc0 = await reconnects('services');
    mode = 'close';
    assert.equal((await c.watchOnce('/api/v1/pods', { onEvent: () => undefined })).reason, 'closed');
    assert.equal((await c.watchOnce('/api/v1/namespaces/x/pods', { onEvent: () => undefined })).reason, 'closed');
    mode = 'gone';
    assert.equal((await c.watchOnce('/api/v1/services', { onEvent: () => undefined })).reason, 'gone');
    assert.equal(await reconnects('pods'), pods0 + 2);
    assert.equal(await reconnects('services'), svc0 + 1);
    mode = 'hang';
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 100);
    assert.equal((await c.watchOnce('/api/v1/pods', { onEvent: () => undefined, signal: ctl.signal })).reason, 'aborted');
    assert.equal(await reconnects('pods'), pods0 + 2, 'the caller\'s own abort is not a reconnect');
  } finally {
    c.close();
  }
});

test('a watch that cannot be opened counts too', async () => {
  const tmp = http.createServer();
  await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
  const port = (tmp.address() as AddressInfo).port;
  await new Promise<void>((r) => tmp.close(() => r()));
  const c = createKubeClient({ ...conn, server: `http://127.0.0.1:${port}` }, { log: silentLogger(), watchTransport: 'http' });
  try {
    const n0 = await reconnects('nodes');
    await assert.rejects(c.watchOnce('/api/v1/nodes', { onEvent: () => undefined }));
    assert.equal(await reconnects('nodes'), n0 + 1);
  } finally {
    c.close();
  }
});
