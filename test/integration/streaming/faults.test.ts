// The streaming endpoints against direct clients and faults (no control plane: the kubelet server and
// a pod on real Docker): refusals with upstream status codes, the v4 and v2 error-stream formats,
// POST /run, the WebSocket channel protocols and the SPDY-in-WebSocket tunnel, and clients that drop
// mid-stream or never read: closed streams, no exec process left running, no descriptor leaked.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { WebSocket } from 'ws';
import { SpdyTestClient } from '../../unit/streaming/spdy-client.js';
import { startKubelet, type Kubelet } from './bed.js';
import { openFds, rawRequest, rawWebSocket, readBody, spdyConnect, upgradeRequest, type Credentials } from './direct.js';

let k: Kubelet;
let creds: Credentials;
const V4 = ['v4.channel.k8s.io'];

before(async () => {
  k = await startKubelet();
  creds = k.client;
  execFileSync('docker', ['exec', k.appId, 'sh', '-c', 'dd if=/dev/urandom of=/www/big bs=1M count=20 2>/dev/null']);
});

after(async () => {
  await k?.stop();
});

const execPath = (cmd: string[], q = 'output=1&error=1') => `/exec/${k.namespace}/${k.pod}/app?${q}&${cmd.map((c) => `command=${encodeURIComponent(c)}`).join('&')}`;

async function runExec(cmd: string[], protocols = V4): Promise<{ stdout: string; stderr: string; error: string; client: SpdyTestClient }> {
  const { client } = await spdyConnect(k.port, creds, execPath(cmd), protocols);
  const err = await client.open({ streamtype: 'error' });
  client.end(err);
  const out = await client.open({ streamtype: 'stdout' });
  const e = await client.open({ streamtype: 'stderr' });
  await client.until(() => out.fin && e.fin && err.fin, 15_000, 'streams to finish');
  client.destroy();
  return { stdout: out.text(), stderr: e.text(), error: err.text(), client };
}

test('refusals: no certificate 401, a certificate from another CA 401, junk 400, unknown pod/container 404', async () => {
  const req = upgradeRequest(execPath(['true']), V4);
  const cases: [Credentials, string, number, RegExp][] = [
    [{}, req, 401, /Unauthorized/],
    [k.foreignClient, req, 401, /Unauthorized/],
    [creds, upgradeRequest(execPath(['true']), ['v9.channel.k8s.io']), 403, /unable to negotiate protocol/],
    [creds, upgradeRequest(execPath(['true']), []), 400, /X-Stream-Protocol-Version is required/],
    [creds, upgradeRequest(execPath(['true'], 'tty=0'), V4), 400, /at least 1 of stdin, stdout, stderr/],
    [creds, upgradeRequest(`/exec/${k.namespace}/../app/x?output=1&command=true`, V4), 400, /invalid path/],
    [creds, upgradeRequest(`/exec/${k.namespace}/nope/app?output=1&command=true`, V4), 404, /pod "nope" does not exist/],
    [creds, upgradeRequest(`/exec/${k.namespace}/${k.pod}/nope?output=1&command=true`, V4), 404, /container "nope" not found/],
    [creds, upgradeRequest(`/portForward/${k.namespace}/nope`, ['portforward.k8s.io']), 404, /does not exist/],
    [creds, `GET ${execPath(['true'])} HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n`, 400, /Upgrade request required/],
  ];
  for (const [c, request, status, body] of cases) {
    const res = await rawRequest(k.port, c, request);
    assert.equal(res.status, status, `${request.split('\r\n')[0]} → ${res.head}`);
    const text = await readBody(res);
    assert.match(text.startsWith('{') ? (JSON.parse(text) as { message: string }).message : text, body);
    if (status === 403) assert.match(res.head, /X-Accepted-Stream-Protocol-Versions: v4\.channel\.k8s\.io/);
  }
});

test('v4 error stream: Success, or NonZeroExitCode with the ExitCode cause; v2 writes the message text', async () => {
  const ok = await runExec(['sh', '-c', 'echo out; echo err >&2']);
  assert.equal(ok.stdout, 'out\n');
  assert.equal(ok.stderr, 'err\n');
  assert.deepEqual(JSON.parse(ok.error), { metadata: {}, status: 'Success' });
  const three = JSON.parse((await runExec(['sh', '-c', 'exit 3'])).error);
  assert.equal(three.status, 'Failure');
  assert.equal(three.reason, 'NonZeroExitCode');
  assert.deepEqual(three.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  const v2 = await runExec(['sh', '-c', 'exit 5'], ['v2.channel.k8s.io']);
  assert.match(v2.error, /^command terminated with non-zero exit code: .*exited with 5/);
  assert.equal((await runExec(['true'], ['v2.channel.k8s.io'])).error, '');
  const missing = JSON.parse((await runExec(['/no/such/binary'])).error);
  assert.equal(missing.status, 'Failure');
});

test('POST /run answers the command output; a non-zero exit is a 500', async () => {
  const post = (q: string) => rawRequest(k.port, creds, `POST /run/${k.namespace}/${k.pod}/app?${q} HTTP/1.1\r\nHost: k\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  const ok = await post('cmd=echo%20run-ok');
  assert.equal(ok.status, 200);
  assert.equal((await readBody(ok)).trim(), 'run-ok');
  const bad = await post('cmd=false');
  assert.equal(bad.status, 500);
  assert.match(await readBody(bad), /exited with 1/);
  const anon = await rawRequest(k.port, {}, `POST /run/${k.namespace}/${k.pod}/app?cmd=true HTTP/1.1\r\nHost: k\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  assert.equal(anon.status, 401);
  anon.socket.destroy();
});

function wsConnect(path: string, protocols: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${k.port}${path}`, protocols, { ...creds, rejectUnauthorized: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

test('WebSocket v5.channel.k8s.io exec: stdin, the CLOSE signal as EOF, output channels and the status', async () => {
  const ws = await wsConnect(execPath(['sh', '-c', 'wc -c; echo e >&2; exit 2'], 'input=1&output=1&error=1'), ['v5.channel.k8s.io']);
  assert.equal(ws.protocol, 'v5.channel.k8s.io');
  const got: Record<number, Buffer[]> = {};
  ws.on('message', (d: Buffer) => (got[d[0]!] ??= []).push(d.subarray(1)));
  const closed = new Promise((r) => ws.once('close', r));
  ws.send(Buffer.concat([Buffer.from([0]), Buffer.alloc(12_345, 97)]));
  ws.send(Buffer.from([255, 0]));
  await closed;
  const text = (ch: number) => Buffer.concat(got[ch] ?? []).toString();
  assert.equal(text(1).trim(), '12345');
  assert.equal(text(2), 'e\n');
  const status = JSON.parse(text(3));
  assert.equal(status.reason, 'NonZeroExitCode');
  assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '2' }]);
});

test('WebSocket port forward: v4 channels with the port prefix, and SPDY tunnelled in WebSocket', async () => {
  const ws = await wsConnect(`/portForward/${k.namespace}/${k.pod}?port=8080`, ['v4.channel.k8s.io']);
  const data: Buffer[] = [];
  let firsts = 0;
  ws.on('message', (d: Buffer) => {
    if (d[0] === 0 && firsts < 1) return void (firsts++, assert.deepEqual([...d.subarray(1)], [0x90, 0x1f]));
    if (d[0] === 0) data.push(d.subarray(1));
  });
  ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('GET /index.html HTTP/1.0\r\n\r\n')]));
  for (let i = 0; i < 100 && !Buffer.concat(data).toString().includes('hello-from-pod'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(Buffer.concat(data).toString(), /hello-from-pod/);
  ws.close();

  const tunnel = await rawWebSocket(k.port, creds, `/portForward/${k.namespace}/${k.pod}`, 'SPDY/3.1+portforward.k8s.io');
  assert.match(tunnel.head, /Sec-WebSocket-Protocol: SPDY\/3\.1\+portforward\.k8s\.io/i);
  const client = new SpdyTestClient(tunnel.stream);
  const err = await client.open({ streamtype: 'error', port: '8080', requestid: '0' });
  client.end(err);
  const d = await client.open({ streamtype: 'data', port: '8080', requestid: '0' });
  client.write(d, 'GET /index.html HTTP/1.0\r\n\r\n');
  await client.until(() => d.fin, 10_000, 'data FIN');
  assert.match(d.text(), /hello-from-pod/);
  client.destroy();
});

test('port forward over SPDY: pairs by requestid, bad streams reset, a refused port reported on the error stream', async () => {
  const { client } = await spdyConnect(k.port, creds, `/portForward/${k.namespace}/${k.pod}`, ['portforward.k8s.io']);
  const bad = await client.open({ streamtype: 'data', port: 'http', requestid: '9' });
  const pairs: { e: Awaited<ReturnType<SpdyTestClient['open']>>; d: Awaited<ReturnType<SpdyTestClient['open']>> }[] = [];
  for (let i = 0; i < 5; i++) {
    const e = await client.open({ streamtype: 'error', port: '8080', requestid: String(i) });
    client.end(e);
    pairs.push({ e, d: await client.open({ streamtype: 'data', port: '8080', requestid: String(i) }) });
  }
  for (const { d } of pairs) client.write(d, 'GET /big HTTP/1.0\r\n\r\n', true);
  await client.until(() => pairs.every((p) => p.d.fin), 20_000, 'all transfers');
  for (const { d } of pairs) assert.ok(Buffer.concat(d.data).length > 20 * 1024 * 1024);
  assert.equal(bad.reset, 3);
  const e9 = await client.open({ streamtype: 'error', port: '9', requestid: '77' });
  client.end(e9);
  await client.open({ streamtype: 'data', port: '9', requestid: '77' });
  await client.until(() => e9.fin, 10_000, 'error stream');
  assert.match(e9.text(), /error forwarding port 9 to pod .*failed to connect to localhost:9 inside namespace/);
  client.destroy();
});

const psSleepers = () => execFileSync('docker', ['exec', k.appId, 'ps', '-o', 'args']).toString().split('\n').filter((l) => l.startsWith('sleep 1001')).length;
const helpers = () => {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), 'nsenter']).toString().trim().split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

async function settle(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 100));
}

test('200 sessions dropped mid-stream: no exec process left, no descriptor leaked, port-forward helpers gone', async () => {
  await runExec(['true']); // warm up lazily created handles (Docker agent sockets, inflaters)
  const fdsBefore = openFds();
  const drop = async () => {
    const { client } = await spdyConnect(k.port, creds, execPath(['sh', '-c', 'echo started; exec sleep 1001'], 'input=1&output=1&error=1'), V4);
    await client.open({ streamtype: 'error' });
    await client.open({ streamtype: 'stdin' });
    const out = await client.open({ streamtype: 'stdout' });
    await client.open({ streamtype: 'stderr' });
    await client.until(() => out.text().includes('started'), 15_000, 'exec to start');
    client.destroy();
  };
  for (let round = 0; round < 20; round++) await Promise.all(Array.from({ length: 10 }, drop));
  for (let i = 0; i < 10; i++) {
    const { client } = await spdyConnect(k.port, creds, `/portForward/${k.namespace}/${k.pod}`, ['portforward.k8s.io']);
    const e = await client.open({ streamtype: 'error', port: '8080', requestid: '1' });
    client.end(e);
    const d = await client.open({ streamtype: 'data', port: '8080', requestid: '1' });
    client.write(d, 'GET /big HTTP/1.0\r\n\r\n', true);
    await client.until(() => d.data.length > 0, 10_000, 'transfer to start');
    client.destroy();
  }
  await settle(() => psSleepers() === 0 && helpers() === 0 && openFds() <= fdsBefore);
  assert.equal(psSleepers(), 0, 'exec processes of dropped sessions are killed');
  assert.equal(helpers(), 0, 'namespace helpers of dropped port-forward sessions exit');
  assert.ok(openFds() <= fdsBefore, `descriptors: ${fdsBefore} before, ${openFds()} after`);
});

test('a client that never reads: output is held by backpressure, not buffered; dropping it ends the exec', async () => {
  const { client, res } = await spdyConnect(k.port, creds, execPath(['sh', '-c', 'exec cat /dev/zero']), V4);
  await client.open({ streamtype: 'error' });
  const out = await client.open({ streamtype: 'stdout' });
  await client.open({ streamtype: 'stderr' });
  await client.until(() => out.data.length > 0, 10_000, 'first output');
  res.socket.pause(); // stop reading; TCP and stream buffers fill, then Docker's side is paused
  const rssBefore = process.memoryUsage().rss;
  await new Promise((r) => setTimeout(r, 2000));
  const grew = process.memoryUsage().rss - rssBefore;
  assert.ok(grew < 64 * 1024 * 1024, `rss grew ${grew} bytes while the client did not read`);
  client.destroy();
  const cats = () => execFileSync('docker', ['exec', k.appId, 'ps', '-o', 'args']).toString().split('\n').filter((l) => l.startsWith('cat /dev/zero')).length;
  await settle(() => cats() === 0);
  assert.equal(cats(), 0);
});
