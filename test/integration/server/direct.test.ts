// The kubelet API server against real Docker containers, spoken to directly over TLS (no control
// plane): client certificates from the configured CA and from another CA, the self-signed serving
// certificate's names, /containerLogs options and errors, junk queries, traversal, and followers that
// drop mid-stream (the Docker log streams must close: no descriptor leak).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Gate } from '../../../agent/server/gate.js';
import { KubeletServer } from '../../../agent/server/kubelet-server.js';
import { DockerPodLookup } from '../../../agent/server/lookup.js';
import { systemClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/log.js';
import { DockerLogs } from '../../../runtime/docker/logs.js';
import { DockerRuntime } from '../../../runtime/docker/runtime.js';
import { freePort } from '../../cluster/net.js';
import { createCa, issueCert, type IssuedCert } from '../../cluster/pki.js';

const run = promisify(execFile);
const NODE = `srv-direct-${process.pid}`;
const NS = 'srvtest';
const POD = 'logger';
const UID = `uid-${process.pid}`;
const IMAGE = 'dockerlet/busybox:1.36';

let dir: string;
let caFile: string;
let otherCaPem: string;
let server: KubeletServer;
let port: number;
let readOnlyPort: number;
let serverCa: string;
let good: IssuedCert;
let foreign: IssuedCert;
const containers: string[] = [];

function labels(container: string, attempt: number): string[] {
  const l: Record<string, string> = {
    'io.kubernetes.pod.name': POD, 'io.kubernetes.pod.namespace': NS, 'io.kubernetes.pod.uid': UID,
    'io.kubernetes.container.name': container, 'io.kubernetes.docker.type': 'container', 'io.dockerlet.kind': 'container',
    'io.dockerlet.attempt': String(attempt), 'io.dockerlet.restart-count': String(attempt), 'io.dockerlet.node': NODE,
  };
  return Object.entries(l).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

async function dockerRun(container: string, attempt: number, script: string, opts: { tty?: boolean } = {}): Promise<string> {
  const { stdout } = await run('docker', ['run', '-d', ...(opts.tty ? ['-t'] : []), '--name', `${NODE}-${container}-${attempt}`, ...labels(container, attempt), IMAGE, 'sh', '-c', script]);
  const id = stdout.trim();
  containers.push(id);
  return id;
}

interface Res { status: number; body: string }

function get(path: string, o: { cert?: IssuedCert; headers?: Record<string, string> } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const opts: RequestOptions = {
      host: '127.0.0.1', port, path, method: 'GET', ca: serverCa, servername: undefined, headers: o.headers ?? {}, agent: false,
      ...(o.cert ? { cert: o.cert.certPem, key: o.cert.keyPem } : {}),
    };
    const req = request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const logs = (q: string) => get(`/containerLogs/${NS}/${POD}/app${q}`, { cert: good });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fds = () => readdirSync('/proc/self/fd').length;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dockerlet-srv-'));
  const ca = await createCa(join(dir, 'ca'));
  const other = await createCa(join(dir, 'other'), 'someone-else');
  caFile = ca.certPath;
  otherCaPem = other.certPem;
  good = await issueCert(ca, join(dir, 'ca'), { name: 'client', commonName: 'kube-apiserver', organizations: ['system:masters'], usage: 'client' });
  foreign = await issueCert(other, join(dir, 'other'), { name: 'client', commonName: 'kube-apiserver', organizations: ['system:masters'], usage: 'client' });
  // attempt 0 exited; attempt 1 running and printing a line every 200 ms after 3 fixed lines.
  await dockerRun('app', 0, 'echo first-run-1; echo first-run-2');
  await dockerRun('app', 1, 'echo one; echo two >&2; echo three; i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo tick-$i; sleep 0.2; done');
  await dockerRun('tty', 0, 'printf "tty-line\\n"; sleep 600', { tty: true });
  const runtime = new DockerRuntime({ nodeName: NODE, log: silentLogger() });
  const dockerLogs = new DockerLogs();
  const lookup = new DockerPodLookup({ listContainers: () => runtime.listManaged(), tty: (id) => dockerLogs.tty(id) });
  const gate = new Gate({ nodeName: NODE, x509: true, webhook: false, anonymous: false, authorization: 'AlwaysAllow' });
  readOnlyPort = await freePort();
  server = new KubeletServer(
    { address: '127.0.0.1', port: 0, readOnlyPort, clientCAFile: ca.certPath, certDir: join(dir, 'pki'), sans: [NODE, 'localhost', '127.0.0.1'], host: NODE, clock: systemClock, log: silentLogger() },
    {
      gate: gate.check, lookup, logs: dockerLogs, pods: () => [], runningPods: async () => [], configz: () => ({ port: 0 }),
      healthChecks: [{ name: 'syncloop', check: () => undefined }], plugins: [], clock: systemClock, log: silentLogger(),
    },
  );
  await server.start(new AbortController().signal);
  port = server.port()!;
  const { readFile } = await import('node:fs/promises');
  serverCa = await readFile(join(dir, 'pki', 'kubelet.crt'), 'utf8');
  // Wait until the running container has printed its first lines.
  for (let i = 0; i < 50 && !(await logs('')).body.includes('three'); i++) await sleep(100);
});

after(async () => {
  await server?.stop();
  if (containers.length) await run('docker', ['rm', '-f', ...containers]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

test('the self-signed serving certificate names the node and verifies as its own CA', async () => {
  const c = new X509Certificate(serverCa);
  assert.ok(c.checkIP('127.0.0.1') && c.checkHost(NODE));
  assert.match(c.subject, new RegExp(`CN=${NODE}@\\d+`));
  const r = await get('/healthz', { cert: good });
  assert.deepEqual(r, { status: 200, body: 'ok' });
});

test('no credentials → 401; a client certificate from another CA → 401; the cluster CA\'s → served', async () => {
  assert.deepEqual(await get('/pods'), { status: 401, body: 'Unauthorized' });
  assert.deepEqual(await get('/containerLogs/x/y/z'), { status: 401, body: 'Unauthorized' });
  assert.equal((await get('/pods', { cert: foreign })).status, 401);
  assert.equal((await get('/pods', { headers: { authorization: 'Bearer abc' } })).status, 401, 'no token authenticator configured');
  const pods = await get('/pods', { cert: good });
  assert.equal(pods.status, 200);
  assert.deepEqual(JSON.parse(pods.body), { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [] });
  assert.deepEqual(JSON.parse((await get('/configz', { cert: good })).body), { kubeletconfig: { port: 0 } });
  const verbose = await get('/healthz?verbose', { cert: good });
  assert.equal(verbose.body, '[+]ping ok\n[+]log ok\n[+]syncloop ok\nhealthz check passed\n');
});

test('containerLogs options: tail, timestamps, limitBytes, since, stream, previous, TTY', async () => {
  const tail = await logs('?tailLines=2');
  assert.equal(tail.status, 200);
  assert.equal(tail.body.split('\n').filter(Boolean).length, 2);
  const all = (await logs('')).body.split('\n');
  // Both streams in one body (Docker copies stdout and stderr separately, so their relative order may vary).
  assert.deepEqual(all.filter((l) => l !== 'two').slice(0, 3), ['one', 'three', 'tick-1']);
  assert.ok(all.includes('two'));
  const ts = (await logs('?timestamps=true&tailLines=1')).body;
  assert.match(ts, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z tick-\d+\n$/);
  assert.deepEqual(await logs('?limitBytes=6&stream=Stdout'), { status: 200, body: 'one\nth' }, 'cut mid-line');
  assert.equal((await logs('?sinceTime=2999-01-01T00:00:00Z')).body, '');
  assert.deepEqual((await logs(`?sinceTime=${new Date(Date.now() - 3_600_000).toISOString()}&stream=Stdout`)).body.split('\n').slice(0, 2), ['one', 'three']);
  await sleep(1500); // the first lines are now more than a second old
  const recent = (await logs('?sinceSeconds=1')).body.split('\n').filter(Boolean);
  assert.ok(recent.length > 0 && recent.length < 15 && recent.every((l) => l.startsWith('tick-')), `sinceSeconds=1: ${recent.join(',')}`);
  assert.equal((await logs('?stream=Stderr')).body, 'two\n');
  assert.equal((await logs('?tail=all&limitBytes=4&stream=Stdout')).body, 'one\n', 'legacy tail=all');
  assert.deepEqual(await logs('?previous=true'), { status: 200, body: 'first-run-1\nfirst-run-2\n' });
  const tty = await get(`/containerLogs/${NS}/${POD}/tty`, { cert: good });
  assert.deepEqual(tty, { status: 200, body: 'tty-line\r\n' });
});

test('errors: junk → 400, invalid → 422, unknown pod/container → 404, traversal and unknown paths → 404', async () => {
  const junk = await logs('?tailLines=abc');
  assert.deepEqual(junk, { status: 400, body: 'Unable to decode query: tailLines: "abc" is not an integer' });
  assert.equal((await logs('?follow=maybe')).status, 400);
  assert.equal((await logs('?sinceTime=yesterday')).status, 400);
  assert.equal((await logs('?limitBytes=99999999999999999999')).status, 400);
  assert.deepEqual(await logs('?tailLines=-1'), { status: 422, body: 'Invalid request: tailLines: must be greater than or equal to 0' });
  assert.equal((await logs('?sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z')).status, 422);
  assert.equal((await logs('?limitBytes=0')).status, 422);
  assert.deepEqual(await get(`/containerLogs/${NS}/nope/app`, { cert: good }), { status: 404, body: 'pod "nope" does not exist' });
  assert.deepEqual(await get(`/containerLogs/${NS}/${POD}/nope`, { cert: good }), { status: 404, body: 'container "nope" not found in pod "logger"' });
  const tty = await get(`/containerLogs/${NS}/${POD}/tty?previous=true`, { cert: good });
  assert.deepEqual(tty, { status: 400, body: 'previous terminated container "tty" in pod "logger" not found' });
  for (const p of ['/containerLogs/../pods', '/metrics/%2e%2e/pods', '/containerLogs/a/..%2fb/c', '/nope', '/containerLogs/a/b']) {
    assert.equal((await get(p, { cert: good })).status, 404, p);
  }
  assert.equal((await get('/metrics/../pods')).status, 401, 'auth comes before routing');
});

test('follow streams new lines; followers that drop close their Docker streams', async () => {
  const lines = await new Promise<string[]>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/containerLogs/${NS}/${POD}/app?follow=true&tailLines=1`, ca: serverCa, cert: good.certPem, key: good.keyPem }, (res) => {
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        const got = buf.split('\n').filter(Boolean);
        if (got.length >= 4) {
          req.destroy();
          resolve(got);
        }
      });
    });
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    req.end();
  });
  const nums = lines.map((l) => Number(/^tick-(\d+)$/.exec(l)?.[1]));
  assert.ok(nums.every((n, i) => i === 0 || n === (nums[i - 1] ?? 0) + 1), `consecutive new lines: ${lines.join(',')}`);

  await logs('?tailLines=1'); // warm every lazy handle first
  await sleep(300);
  const base = fds();
  for (let round = 0; round < 100; round++) {
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: `/containerLogs/${NS}/${POD}/app?follow=true`, ca: serverCa, cert: good.certPem, key: good.keyPem }, (res) => {
        res.once('data', () => { req.destroy(); resolve(); });
      });
      req.on('error', () => resolve());
      req.end();
    });
  }
  let now = fds();
  for (let i = 0; i < 50 && now > base + 2; i++) {
    await sleep(100);
    now = fds();
  }
  assert.ok(now <= base + 2, `descriptors back to ${base} after 100 dropped followers (now ${now})`);
});

function plain(path: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port: readOnlyPort, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    }).on('error', reject);
  });
}

test('the read-only port serves healthz and /pods without credentials, and nothing that needs them', async () => {
  assert.deepEqual(await plain('/healthz'), { status: 200, body: 'ok' });
  assert.equal((await plain('/pods')).status, 200);
  for (const p of [`/containerLogs/${NS}/${POD}/app`, '/configz', '/runningpods/']) assert.equal((await plain(p)).status, 404, p);
});

test('a changed client CA file applies to new connections', async () => {
  const { readFile, writeFile } = await import('node:fs/promises');
  const original = await readFile(caFile, 'utf8');
  await writeFile(caFile, otherCaPem);
  try {
    assert.equal(await server.reloadClientCA(), true);
    assert.equal((await get('/healthz', { cert: foreign })).status, 200, 'the new CA\'s client is let in');
    assert.equal((await get('/healthz', { cert: good })).status, 401, 'the old CA\'s client is not');
  } finally {
    await writeFile(caFile, original);
  }
  assert.equal(await server.reloadClientCA(), true);
  assert.equal(await server.reloadClientCA(), false, 'unchanged');
  assert.equal((await get('/healthz', { cert: good })).status, 200);
});

test('stop() ends open followers instead of waiting for them', async () => {
  const ended = new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/containerLogs/${NS}/${POD}/app?follow=true&tailLines=0`, ca: serverCa, cert: good.certPem, key: good.keyPem }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve('end'));
      res.on('error', () => resolve('error'));
      res.on('close', () => resolve('close'));
    });
    req.on('error', () => resolve('error'));
    setTimeout(() => reject(new Error('the follower was not ended by stop()')), 20_000).unref();
    req.end();
  });
  await sleep(500);
  await server.stop();
  assert.ok(['end', 'close', 'error'].includes(await ended));
  await assert.rejects(get('/healthz', { cert: good }), /ECONNREFUSED/);
});
