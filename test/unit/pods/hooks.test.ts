// Lifecycle hook runner (agent/pods/hooks.ts) against loopback servers: httpGet over HTTP and HTTPS
// with a self-signed certificate (not verified, as upstream), the query string kept, headers and the
// kube-lifecycle User-Agent, failures with upstream's messages; exec through a runtime stub that
// records the command; sleep ended early by the abort signal.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { runHook } from '../../../agent/pods/hooks.js';
import { selfSignedCertificate } from '../../../agent/server/selfsigned.js';
import type { Container, Pod } from '../../../kube/api.js';

const seen: { scheme: string; url: string; ua: string; custom: string }[] = [];
let http: Server;
let https: Server;
const port = (s: Server) => (s.address() as AddressInfo).port;
const record = (scheme: string) => (req: IncomingMessage, res: ServerResponse) => {
  seen.push({ scheme, url: req.url ?? '', ua: String(req.headers['user-agent']), custom: String(req.headers['x-hook'] ?? '') });
  res.statusCode = req.url?.includes('fail') ? 500 : 200;
  res.end('ok');
};

before(async () => {
  const now = Date.now();
  const { certPem, keyPem } = selfSignedCertificate({ commonName: 'hook-test', sans: ['127.0.0.1'], notBefore: new Date(now - 60_000), notAfter: new Date(now + 3600_000) });
  http = createServer(record('http'));
  https = createHttpsServer({ cert: certPem, key: keyPem }, record('https'));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
});
after(() => {
  http.close();
  https.close();
});

const pod: Pod = { metadata: { name: 'web', namespace: 'ns', uid: 'u-1' }, spec: { containers: [] } };
const ctr = (ports: Container['ports'] = []): Container => ({ name: 'app', image: 'x', ports });
const noExec = {};

test('httpGet: host defaults to the pod IP, named port, path with query, headers, User-Agent kube-lifecycle', async () => {
  const c = ctr([{ name: 'web', containerPort: port(http) }]);
  const r = await runHook(noExec, { httpGet: { port: 'web', path: '/echo?msg=poststart', httpHeaders: [{ name: 'X-Hook', value: 'yes' }] } },
    { pod, container: c, containerId: 'id', podIP: '127.0.0.1' }, { timeoutMs: 5000 });
  assert.equal(r, undefined);
  const last = seen.at(-1)!;
  assert.deepEqual(last, { scheme: 'http', url: '/echo?msg=poststart', ua: 'kube-lifecycle/1.34', custom: 'yes' });
});

test('httpGet HTTPS: a self-signed certificate is not verified; an HTTP error status still counts as run', async () => {
  const r = await runHook(noExec, { httpGet: { host: '127.0.0.1', port: port(https), scheme: 'HTTPS', path: '/echo?msg=prestop' } },
    { pod, container: ctr(), containerId: 'id' }, { timeoutMs: 5000 });
  assert.equal(r, undefined);
  assert.equal(seen.at(-1)!.scheme, 'https');
  assert.equal(seen.at(-1)!.url, '/echo?msg=prestop');
  assert.equal(await runHook(noExec, { httpGet: { host: '127.0.0.1', port: port(http), path: '/fail' } }, { pod, container: ctr(), containerId: 'id' }, { timeoutMs: 5000 }), undefined);
});

test('httpGet failure: connection refused gives the upstream message', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const p = port(closed);
  closed.close();
  const r = await runHook(noExec, { httpGet: { host: '127.0.0.1', port: p, path: '/x' } }, { pod, container: ctr(), containerId: 'id' }, { timeoutMs: 3000 });
  assert.match(r ?? '', /^HTTP lifecycle hook \(\/x\) for Container "app" in Pod "web_ns\(u-1\)" failed - error: .*ECONNREFUSED/);
  const noIP = await runHook(noExec, { httpGet: { port: 80 } }, { pod, container: ctr(), containerId: 'id' }, { timeoutMs: 3000 });
  assert.match(noIP ?? '', /no IP address/);
});

test('exec: runs the command in the container; a non-zero exit fails with its output', async () => {
  const calls: { id: string; cmd: string[] }[] = [];
  const runtime = {
    async exec(id: string, cmd: string[]) {
      calls.push({ id, cmd });
      return cmd.includes('bad') ? { exitCode: 2, output: 'boom' } : { exitCode: 0, output: '' };
    },
  };
  assert.equal(await runHook(runtime, { exec: { command: ['sh', '-c', 'true'] } }, { pod, container: ctr(), containerId: 'c1' }, { timeoutMs: 1000 }), undefined);
  assert.deepEqual(calls[0], { id: 'c1', cmd: ['sh', '-c', 'true'] });
  const r = await runHook(runtime, { exec: { command: ['sh', 'bad'] } }, { pod, container: ctr(), containerId: 'c1' }, { timeoutMs: 1000 });
  assert.equal(r, `Exec lifecycle hook ([sh bad]) for Container "app" in Pod "web_ns(u-1)" failed - error: command 'sh bad' exited with 2: boom, message: "boom"`);
});

test('sleep: waits, and an abort (grace period cut) ends it early without an error', async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  const p = runHook(noExec, { sleep: { seconds: 30 } }, { pod, container: ctr(), containerId: 'id' }, { timeoutMs: 30_000, signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  assert.equal(await p, undefined);
  assert.ok(Date.now() - t0 < 10_000, 'ended by the abort, not after 30 s');
});
