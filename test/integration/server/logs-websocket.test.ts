// `kubectl logs` as the API server serves it over a WebSocket (the conformance spec "Pods should support
// retrieving logs from the container over websockets"): the API server reads the kubelet's chunked
// response and its wsstream reader drops the bytes of a Read that also returns io.EOF. A log whose last
// chunk and terminating chunk reached the API server together was read as empty (most one-shot reads,
// before agent/server/routes/container-logs.ts paused before ending). Every read here must see the line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { loadKubeconfig } from '../../../kube/kubeconfig.js';
import { bedPerFile } from '../agent/bed.js';

const NS = 'logs-ws';
const b = bedPerFile({ nodeName: `dl-e2e-logs-ws-${process.pid}`, namespace: NS });

/** The messages of one log read over a WebSocket through the API server, until it closes. */
function readOverWebSocket(pod: string, protocol: string): Promise<{ messages: Buffer[]; code: number }> {
  const conn = loadKubeconfig(b().cp.adminKubeconfigPath);
  const url = `${conn.server.replace(/^https/, 'wss')}/api/v1/namespaces/${NS}/pods/${pod}/log?container=main`;
  return new Promise((resolve, reject) => {
    const messages: Buffer[] = [];
    const ws = new WebSocket(url, [protocol], { ca: conn.ca, cert: conn.clientCert, key: conn.clientKey });
    ws.on('message', (d: Buffer) => messages.push(Buffer.from(d)));
    ws.on('close', (code) => resolve({ messages, code }));
    ws.on('error', reject);
  });
}

test('one-shot log reads over WebSockets right after Running return the first line, every time', { timeout: 150_000 }, async () => {
  let reads = 0;
  for (let i = 0; i < 3; i++) {
    const name = `echo-${i}`;
    await b().apply(JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
      spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: 'dockerlet/busybox:1.36', command: ['/bin/sh', '-c', 'echo container is alive; sleep 10000'] }] },
    }));
    await b().waitFor(async () => (await b().pod(NS, name))?.status?.containerStatuses?.[0]?.state?.running, { what: `${name} running`, timeoutMs: 60_000, intervalMs: 50 });
    for (const protocol of ['binary.k8s.io', 'binary.k8s.io', 'base64.binary.k8s.io']) {
      const { messages, code } = await readOverWebSocket(name, protocol);
      const text = messages.map((m) => (protocol.startsWith('base64') ? Buffer.from(m.toString(), 'base64') : m).toString()).join('');
      assert.equal(text, 'container is alive\n', `${name} over ${protocol}`);
      assert.equal(code, 1000);
      reads++;
    }
  }
  assert.equal(reads, 9);
});
