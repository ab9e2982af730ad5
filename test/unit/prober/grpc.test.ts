// The gRPC probe against real gRPC servers on loopback (grpc-js over HTTP/2): a grpc.health.v1 server
// answering SERVING / NOT_SERVING per service, a server without the health service (Unimplemented), one
// that never answers (timeout) and a closed port; the wire messages against hand-made protobuf bytes;
// a liveness worker that fails on the closed port and counts prober_probe_total.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createH2Server } from 'node:http2';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Pod } from '../../../kube/api.js';
import { silentLogger } from '../../../lib/log.js';
import { decodeHealthCheckResponse, encodeHealthCheckRequest, grpcProbe } from '../../../agent/prober/grpc.js';
import { ProberManager } from '../../../agent/prober/manager.js';
import { createProbeRunner, PROBE_USER_AGENT } from '../../../agent/prober/probe.js';
import { probeRegistry } from '../../../metrics/agent-metrics.js';
import { freePort } from '../../cluster/net.js';

const decodeRequest = (buf: Buffer): string => (buf.length === 0 ? '' : buf.subarray(2).toString('utf8'));
const encodeResponse = (status: number): Buffer => Buffer.from([0x08, status]);

const HEALTH: grpc.ServiceDefinition = {
  Check: {
    path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false,
    requestSerialize: (v: unknown) => v as Buffer, requestDeserialize: decodeRequest,
    responseSerialize: encodeResponse, responseDeserialize: (b: Buffer) => b,
  },
};

let healthy: grpc.Server;
let healthyPort = 0;
let bare: grpc.Server;
let barePort = 0;
let silent: TcpServer;
let silentPort = 0;
const silentSockets = new Set<Socket>();
const userAgents: string[] = [];

async function bind(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

before(async () => {
  healthy = new grpc.Server();
  healthy.addService(HEALTH, {
    Check: (call: grpc.ServerUnaryCall<string, number>, cb: grpc.sendUnaryData<number>) => {
      userAgents.push(String(call.metadata.get('user-agent')[0] ?? ''));
      const service = call.request;
      if (service === '' || service === 'up') cb(null, 1);
      else if (service === 'down') cb(null, 2);
      else cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
    },
  });
  healthyPort = await bind(healthy);
  bare = new grpc.Server();
  barePort = await bind(bare);
  // Accepts TCP and never speaks HTTP/2: the call can only end by its deadline.
  silent = createTcpServer((s) => {
    silentSockets.add(s);
    s.on('close', () => silentSockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = (silent.address() as { port: number }).port;
});

after(async () => {
  healthy.forceShutdown();
  bare.forceShutdown();
  for (const s of silentSockets) s.destroy();
  await new Promise((r) => silent.close(r));
});

test('health messages: the request carries the service name, the response status is read past unknown fields', () => {
  assert.deepEqual(encodeHealthCheckRequest(''), Buffer.alloc(0));
  assert.deepEqual(encodeHealthCheckRequest('svc'), Buffer.from([0x0a, 3, 0x73, 0x76, 0x63]));
  assert.equal(encodeHealthCheckRequest('x'.repeat(200)).subarray(0, 3).toString('hex'), '0ac801');
  assert.equal(decodeHealthCheckResponse(Buffer.alloc(0)), 0);
  assert.equal(decodeHealthCheckResponse(Buffer.from([0x08, 0x01])), 1);
  // an unknown length-delimited field 2 before the status
  assert.equal(decodeHealthCheckResponse(Buffer.from([0x12, 0x02, 0x61, 0x62, 0x08, 0x02])), 2);
  assert.throws(() => decodeHealthCheckResponse(Buffer.from([0x08, 0x80])));
});

test('grpc probe: SERVING is success, NOT_SERVING and errors are failures with upstream wording', async () => {
  assert.deepEqual(await grpcProbe('127.0.0.1', healthyPort, 'up', 2000, PROBE_USER_AGENT), { result: 'success', output: 'service healthy' });
  assert.match(userAgents.at(-1) ?? '', /^kube-probe\/1\.34 /, 'kube-probe user agent first');
  assert.deepEqual(await grpcProbe('127.0.0.1', healthyPort, 'down', 2000, PROBE_USER_AGENT),
    { result: 'failure', output: 'service unhealthy (responded with "NOT_SERVING")' });
  const unknown = await grpcProbe('127.0.0.1', healthyPort, 'other', 2000, PROBE_USER_AGENT);
  assert.deepEqual(unknown, { result: 'failure', output: 'error: health rpc probe failed: rpc error: code = NotFound desc = unknown service' });
  const unimplemented = await grpcProbe('127.0.0.1', barePort, '', 2000, PROBE_USER_AGENT);
  assert.equal(unimplemented.result, 'failure');
  assert.match(unimplemented.output, /^error: this server does not implement the grpc health protocol \(grpc\.health\.v1\.Health\): /);
  assert.deepEqual(await grpcProbe('127.0.0.1', silentPort, '', 1000, PROBE_USER_AGENT),
    { result: 'failure', output: 'timeout: health rpc did not complete within 1s' });
  const closed = await grpcProbe('127.0.0.1', await freePort(), '', 2000, PROBE_USER_AGENT);
  assert.equal(closed.result, 'failure');
  assert.match(closed.output, /^error: health rpc probe failed: rpc error: code = Unavailable desc = /);
});

test('grpc probe without a service name: an empty message in one gRPC frame over HTTP/2 (as Go servers expect it)', async () => {
  // grpc-js's server refuses a zero-length request message, so this one is a bare HTTP/2 server.
  const bodies: string[] = [];
  const srv = createH2Server();
  srv.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      bodies.push(`${String(headers[':path'])} ${String(headers['content-type'])} ${Buffer.concat(chunks).toString('hex')}`);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const port = (srv.address() as { port: number }).port;
    assert.deepEqual(await grpcProbe('127.0.0.1', port, '', 2000, PROBE_USER_AGENT), { result: 'success', output: 'service healthy' });
    assert.deepEqual(bodies, ['/grpc.health.v1.Health/Check application/grpc 0000000000']);
  } finally {
    await new Promise((r) => srv.close(r));
  }
});

test('grpc probes through the runner: named ports resolve, no pod IP is a prober error', async () => {
  const runner = createProbeRunner({ runtime: {} });
  const pod: Pod = { metadata: { name: 'g', namespace: 'ns', uid: 'u-g' }, spec: { containers: [] } };
  const container = { name: 'app', ports: [{ name: 'grpc', containerPort: healthyPort }] };
  const probe = { grpc: { port: healthyPort, service: 'up' } } as Parameters<typeof runner.run>[0];
  assert.equal((await runner.run(probe, { pod, container, containerId: 'c1', podIP: '127.0.0.1' }, 2000)).result, 'success');
  assert.equal((await runner.run(probe, { pod, container, containerId: 'c1' }, 2000)).result, 'unknown');
});

test('a gRPC liveness probe on a wrong port fails the container and is counted in prober_probe_total', async () => {
  const wrongPort = await freePort();
  const uid = `u-grpc-${wrongPort}`;
  const pod: Pod = {
    metadata: { name: 'grpc-live', namespace: 'ns', uid },
    spec: { containers: [
      { name: 'bad', livenessProbe: { grpc: { port: wrongPort }, periodSeconds: 1, failureThreshold: 1, timeoutSeconds: 1 } as never },
      { name: 'good', livenessProbe: { grpc: { port: healthyPort, service: 'up' }, periodSeconds: 1, failureThreshold: 1 } as never },
    ] },
  };
  const events: string[] = [];
  const mgr = new ProberManager({ runtime: {}, log: silentLogger(), events: { event: (_o, _t, reason, message) => events.push(`${reason}: ${message}`) } });
  try {
    mgr.syncPod(pod, [
      { containerName: 'bad', containerId: 'bad1', podIP: '127.0.0.1', startedAtMs: Date.now() },
      { containerName: 'good', containerId: 'good1', podIP: '127.0.0.1', startedAtMs: Date.now() },
    ]);
    for (let i = 0; i < 100 && !mgr.livenessFailed(uid, 'bad', 'bad1'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(mgr.restartMessage(uid, 'bad', 'bad1'), 'Container bad failed liveness probe, will be restarted');
    assert.ok(events.some((e) => e.startsWith('Unhealthy: Liveness probe failed: error: health rpc probe failed: ')), events.join('\n'));
    for (let i = 0; i < 50 && !mgr.probeMetrics().some((m) => m.container === 'good'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(mgr.livenessFailed(uid, 'good', 'good1'), false);
    const text = await probeRegistry.metrics();
    assert.match(text, new RegExp(`prober_probe_total\\{probe_type="Liveness",result="failed",container="bad",pod="grpc-live",namespace="ns",pod_uid="${uid}"\\} 1`));
    assert.match(text, new RegExp(`prober_probe_total\\{probe_type="Liveness",result="successful",container="good",pod="grpc-live",namespace="ns",pod_uid="${uid}"\\} \\d+`));
  } finally {
    await mgr.stop();
  }
  assert.doesNotMatch(await probeRegistry.metrics(), new RegExp(`pod_uid="${uid}"`), 'series removed with their workers');
});
