// The probe mechanisms against loopback servers and a fake exec runtime, plus the results cache.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import type { Container, Pod, Probe } from '../../../kube/api.js';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import { createProbeRunner, httpProbe, probeURL, resolvePort, tcpProbe, PROBE_USER_AGENT, type ProbeTarget } from '../../../agent/prober/probe.js';
import { ResultsCache, type ResultUpdate } from '../../../agent/prober/results.js';
import { freePort } from '../../cluster/net.js';

let server: Server;
let port = 0;
let lastHeaders: IncomingHttpHeaders = {};
const sockets = new Set<Socket>();

before(async () => {
  server = createServer((req, res) => {
    lastHeaders = req.headers;
    const url = req.url ?? '/';
    if (url === '/ok') res.end('fine');
    else if (url === '/hop') res.writeHead(302, { location: '/ok' }).end();
    else if (url === '/hop404') res.writeHead(301, { location: '/missing' }).end();
    else if (url === '/away') res.writeHead(302, { location: 'http://example.invalid/x' }).end('see other');
    else if (url === '/loop') res.writeHead(302, { location: '/loop' }).end();
    else if (url === '/slow') setTimeout(() => res.end('late'), 3000).unref();
    else if (url === '/big') res.end('x'.repeat(64 * 1024));
    else res.writeHead(404).end('nope');
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const url = (path: string) => probeURL('http', '127.0.0.1', port, path);

test('httpGet: 2xx success with body, 404 failure with upstream wording, default and custom headers', async () => {
  assert.deepEqual(await httpProbe(url('/ok'), [], 1000), { result: 'success', output: 'fine' });
  assert.equal(lastHeaders['user-agent'], PROBE_USER_AGENT);
  assert.equal(lastHeaders.accept, '*/*');
  assert.deepEqual(await httpProbe(url('/nope'), [{ name: 'X-Custom', value: 'v' }, { name: 'User-Agent', value: 'mine' }], 1000),
    { result: 'failure', output: 'HTTP probe failed with statuscode: 404' });
  assert.equal(lastHeaders['x-custom'], 'v');
  assert.equal(lastHeaders['user-agent'], 'mine');
  const big = await httpProbe(url('/big'), [], 1000);
  assert.equal(big.result, 'success');
  assert.equal(big.output.length, 10 * 1024, 'body capped at 10 KiB');
});

test('httpGet: same-host redirects are followed, other hosts end in a warning, loops fail', async () => {
  assert.deepEqual(await httpProbe(url('/hop'), [], 1000), { result: 'success', output: 'fine' });
  assert.deepEqual(await httpProbe(url('/hop404'), [], 1000), { result: 'failure', output: 'HTTP probe failed with statuscode: 404' });
  assert.deepEqual(await httpProbe(url('/away'), [], 1000), { result: 'success', output: 'Probe terminated redirects, Response body: see other', warning: true });
  const loop = await httpProbe(url('/loop'), [], 2000);
  assert.equal(loop.result, 'failure');
  assert.match(loop.output, /stopped after 10 redirects/);
});

test('httpGet: timeout and refused connections are failures with Go-like messages', async () => {
  const slow = await httpProbe(url('/slow'), [], 200);
  assert.equal(slow.result, 'failure');
  assert.match(slow.output, /^Get "http:\/\/127\.0\.0\.1:\d+\/slow": context deadline exceeded/);
  const closedPort = await freePort();
  const refused = await httpProbe(probeURL('http', '127.0.0.1', closedPort, '/'), [], 1000);
  assert.deepEqual(refused, { result: 'failure', output: `Get "http://127.0.0.1:${closedPort}/": dial tcp 127.0.0.1:${closedPort}: connect: connection refused` });
});

test('probeURL keeps a query string and brackets IPv6 hosts', () => {
  assert.equal(probeURL('http', '10.0.0.1', 8080, '/healthz?full=1').toString(), 'http://10.0.0.1:8080/healthz?full=1');
  assert.equal(probeURL('https', 'fd00::1', 8443, '').toString(), 'https://[fd00::1]:8443/');
});

test('tcpSocket: open port succeeds, closed port fails', async () => {
  const srv = createTcpServer((s) => s.destroy());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as AddressInfo).port;
  try {
    assert.deepEqual(await tcpProbe('127.0.0.1', p, 1000), { result: 'success', output: '' });
  } finally {
    await new Promise((r) => srv.close(r));
  }
  const closed = await freePort();
  assert.deepEqual(await tcpProbe('127.0.0.1', closed, 1000), { result: 'failure', output: `dial tcp 127.0.0.1:${closed}: connect: connection refused` });
});

test('resolvePort: numbers, named container ports, numeric strings; errors otherwise', () => {
  const c: Container = { name: 'app', ports: [{ name: 'http', containerPort: 8080 }] };
  assert.equal(resolvePort(80, c), 80);
  assert.equal(resolvePort('http', c), 8080);
  assert.equal(resolvePort('9090', c), 9090);
  assert.throws(() => resolvePort('metrics', c), /port metrics not found/);
  assert.throws(() => resolvePort(70000, c), /invalid port number/);
});

function target(over: Partial<ProbeTarget> = {}): ProbeTarget {
  const pod: Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { containers: [{ name: 'app', ports: [{ name: 'web', containerPort: port }] }] } };
  return { pod, container: pod.spec.containers[0]!, containerId: 'cid', podIP: '127.0.0.1', ...over };
}

test('runner: exec exit codes, timeout is failure, runtime errors are unknown', async () => {
  const seen: { id: string; cmd: string[]; timeoutMs: number }[] = [];
  let behaviour: 'ok' | 'fail' | 'timeout' | 'error' = 'ok';
  const runner = createProbeRunner({
    runtime: {
      async exec(id, cmd, opts) {
        seen.push({ id, cmd, timeoutMs: opts.timeoutMs });
        if (behaviour === 'timeout') throw new DockerletError(ErrorCodes.EXEC_TIMEOUT, 'command "cat /tmp/healthy" timed out');
        if (behaviour === 'error') throw new DockerletError(ErrorCodes.RUNTIME, 'docker exec failed: container is not running');
        return behaviour === 'ok' ? { exitCode: 0, output: 'ok\n' } : { exitCode: 1, output: 'cat: nope\n' };
      },
    },
  });
  const probe: Probe = { exec: { command: ['cat', '/tmp/healthy'] } };
  assert.deepEqual(await runner.run(probe, target(), 3000), { result: 'success', output: 'ok\n' });
  assert.deepEqual(seen[0], { id: 'cid', cmd: ['cat', '/tmp/healthy'], timeoutMs: 3000 });
  behaviour = 'fail';
  assert.deepEqual(await runner.run(probe, target(), 1000), { result: 'failure', output: 'cat: nope\n' });
  behaviour = 'timeout';
  assert.deepEqual(await runner.run(probe, target(), 1000), { result: 'failure', output: 'command "cat /tmp/healthy" timed out' });
  behaviour = 'error';
  assert.equal((await runner.run(probe, target(), 1000)).result, 'unknown');
  assert.equal((await createProbeRunner({ runtime: {} }).run(probe, target(), 1000)).result, 'unknown', 'no exec support');
});

test('runner: httpGet to the pod IP via a named port, tcpSocket, grpc to a closed port fails, missing IP unknown', async () => {
  const runner = createProbeRunner({ runtime: {} });
  assert.deepEqual(await runner.run({ httpGet: { port: 'web', path: '/ok' } }, target(), 1000), { result: 'success', output: 'fine' });
  assert.equal((await runner.run({ httpGet: { port: 'nosuch' } }, target(), 1000)).result, 'unknown');
  assert.equal((await runner.run({ tcpSocket: { port } }, target(), 1000)).result, 'success');
  assert.equal((await runner.run({ tcpSocket: { port } }, target({ podIP: undefined }), 1000)).result, 'unknown');
  const grpc = await runner.run({ grpc: { port: await freePort() } } as Probe, target(), 1000);
  assert.equal(grpc.result, 'failure');
  assert.match(grpc.output, /^error: health rpc probe failed: rpc error: code = Unavailable desc = /);
});

test('results cache: set notifies only on change; remove is silent', () => {
  const cache = new ResultsCache();
  const seen: ResultUpdate[] = [];
  const off = cache.subscribe((u) => seen.push(u));
  assert.equal(cache.set('u', 'c', 'readiness', 'failure'), true);
  assert.equal(cache.set('u', 'c', 'readiness', 'failure'), false);
  assert.equal(cache.set('u', 'c', 'liveness', 'failure'), true, 'keyed by probe type');
  assert.equal(cache.set('u', 'c', 'readiness', 'success'), true);
  assert.equal(seen.length, 3);
  assert.deepEqual(seen[2], { podUid: 'u', containerId: 'c', probeType: 'readiness', result: 'success' });
  assert.equal(cache.get('u', 'c', 'readiness'), 'success');
  cache.remove('u', 'c', 'readiness');
  assert.equal(cache.get('u', 'c', 'readiness'), undefined);
  assert.equal(seen.length, 3);
  cache.removePod('u');
  assert.equal(cache.get('u', 'c', 'liveness'), undefined);
  off();
  cache.set('u', 'c', 'readiness', 'failure');
  assert.equal(seen.length, 3, 'unsubscribed');
});
