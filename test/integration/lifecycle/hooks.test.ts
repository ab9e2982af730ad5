// End to end (issue 15a): lifecycle hooks on the real bed and Docker. postStart httpGet to another pod's
// IP and exec, HTTPS to a self-signed loopback server (not verified), a failing postStart
// (FailedPostStartHook, killed, restarted); preStop httpGet with the default host (the pod's own IP),
// exec within the grace period, FailedPreStopHook; grace periods: the deletion's overrides the spec's
// (also larger), and a force delete cuts a preStop in progress short.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { selfSignedCertificate } from '../../../agent/server/selfsigned.js';
import type { Pod } from '../../../kube/api.js';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = 'dl-lc15-hooks';
const NS = 'lc15-hooks';
const IMAGE = 'dockerlet/busybox:1.36';
let bed: Bed | undefined;
const b = () => bed as Bed;
let https: Server | undefined;
const httpsSeen: string[] = [];
let hostDir = '';

/** A shell loop answering each HTTP request with 200 and appending the request line to FILE. */
const HANDLER = (file: string) =>
  `while true; do printf 'HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok' | nc -l -p 8080 | head -n 1 >> ${file}; done`;

function manifest(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { terminationGracePeriodSeconds: 5, ...spec } });
}

function box(name: string, script: string, extra: Record<string, unknown> = {}) {
  return { name, image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script], ...extra };
}

const hostVolume = () => ({ name: 'host', hostPath: { path: hostDir, type: 'Directory' } });
const hostMount = { name: 'host', mountPath: '/host' };

async function getPod(name: string): Promise<Pod> {
  return b().kubectlJson<Pod>(['get', 'pod', name, '-n', NS]);
}

async function running(name: string): Promise<Pod> {
  return b().waitFor(async () => {
    const p = await getPod(name);
    return p.status?.phase === 'Running' && p.status.containerStatuses?.every((s) => s.state?.running) ? p : undefined;
  }, { what: `${name} running`, timeoutMs: 60_000 });
}

async function events(reason: string): Promise<string> {
  return b().kubectl(['get', 'events', '-n', NS, '--field-selector', `reason=${reason}`, '-o', 'jsonpath={range .items[*]}{.involvedObject.name} {.message}{"\\n"}{end}']);
}

const fileLines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : []);

before(async () => {
  const now = Date.now();
  const { certPem, keyPem } = selfSignedCertificate({ commonName: 'lc15', sans: ['127.0.0.1'], notBefore: new Date(now - 60_000), notAfter: new Date(now + 3600_000) });
  https = createServer({ cert: certPem, key: keyPem }, (req, res) => {
    httpsSeen.push(req.url ?? '');
    res.end('ok');
  });
  await new Promise<void>((r) => https!.listen(0, '127.0.0.1', r));
  bed = await startBed({ nodeName: NODE });
  hostDir = join(bed.dir, 'hooks');
  mkdirSync(hostDir, { recursive: true });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
  // The handler every hook of this file reaches (as upstream's e2e handler pod).
  await bed.apply(manifest('handler', { volumes: [hostVolume()], containers: [box('handler', HANDLER('/host/handler.log'), { volumeMounts: [hostMount] })] }));
  await running('handler');
}, { timeout: 180_000 });

after(async () => {
  https?.close();
  await bed?.stop();
}, { timeout: 120_000 });

test('postStart httpGet (to the handler pod IP), HTTPS without certificate checks, and exec all run after start', { timeout: 90_000 }, async () => {
  const handlerIP = (await getPod('handler')).status?.podIP;
  assert.ok(handlerIP, 'handler has a pod IP');
  const port = (https!.address() as AddressInfo).port;
  await b().apply(manifest('poststart', {
    containers: [
      box('http', 'sleep 3600', { lifecycle: { postStart: { httpGet: { host: handlerIP, port: 8080, path: '/echo?msg=poststart-http' } } } }),
      box('https', 'sleep 3600', { lifecycle: { postStart: { httpGet: { host: '127.0.0.1', port, scheme: 'HTTPS', path: '/echo?msg=poststart-https' } } } }),
      box('exec', 'sleep 3600', { lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo hooked > /tmp/poststart'] } } } }),
    ],
  }));
  await running('poststart');
  await b().waitFor(() => fileLines(join(hostDir, 'handler.log')).some((l) => l.includes('GET /echo?msg=poststart-http')), { what: 'the handler saw the postStart request', timeoutMs: 30_000 });
  assert.ok(httpsSeen.includes('/echo?msg=poststart-https'), `HTTPS hook reached the self-signed server: ${httpsSeen.join(', ')}`);
  assert.equal((await b().exec(NS, 'poststart', 'exec', ['cat', '/tmp/poststart'])).trim(), 'hooked');
  const p = await getPod('poststart');
  assert.ok(p.status?.containerStatuses?.every((s) => s.restartCount === 0), 'no hook failed');
});

test('a failing postStart hook: FailedPostStartHook Event, the container is killed and restarted', { timeout: 90_000 }, async () => {
  await b().apply(manifest('poststart-fail', {
    containers: [box('app', 'sleep 3600', { lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo nope; exit 7'] } } } })],
  }));
  const ev = await b().waitFor(async () => {
    const out = await events('FailedPostStartHook');
    return out.includes('poststart-fail') ? out : undefined;
  }, { what: 'a FailedPostStartHook Event', timeoutMs: 60_000 });
  assert.match(ev, /Exec lifecycle hook \(\[sh -c echo nope; exit 7\]\) for Container "app" in Pod "poststart-fail_lc15-hooks\(.*\)" failed - error: .*exited with 7/);
  const p = await b().waitFor(async () => {
    const pod = await getPod('poststart-fail');
    const cs = pod.status?.containerStatuses?.[0];
    return cs && cs.restartCount >= 1 && cs.lastState?.terminated ? pod : undefined;
  }, { what: 'the container killed and started again', timeoutMs: 60_000 });
  const cs = p.status!.containerStatuses![0]!;
  assert.notEqual(cs.lastState?.terminated?.exitCode, 0, 'killed, not exited by itself');
  const waiting = cs.state?.waiting?.reason;
  assert.ok(cs.state?.running || waiting === 'PostStartHookError' || waiting === 'CrashLoopBackOff', `state ${JSON.stringify(cs.state)}`);
  await b().kubectl(['delete', 'pod', 'poststart-fail', '-n', NS, '--grace-period=1', '--wait=false']);
});

test('preStop httpGet without a host reaches the pod own IP before the stop signal', { timeout: 90_000 }, async () => {
  await b().apply(manifest('prestop-http', {
    volumes: [hostVolume()],
    containers: [box('web', HANDLER('/host/self.log'), {
      volumeMounts: [hostMount], lifecycle: { preStop: { httpGet: { port: 8080, path: '/echo?msg=prestop-http' } } },
    })],
  }));
  const p = await running('prestop-http');
  await b().kubectl(['delete', 'pod', 'prestop-http', '-n', NS, '--wait=true', '--timeout=60s']);
  assert.ok(fileLines(join(hostDir, 'self.log')).some((l) => l.includes('GET /echo?msg=prestop-http')), `the pod (${p.status?.podIP}) saw its own preStop request`);
});

test('preStop exec: the deletion grace period overrides a shorter spec one; a failing preStop gives FailedPreStopHook', { timeout: 90_000 }, async () => {
  // spec grace 1 s would cut the 6 s hook short (and kill the container before it writes); deletion grace 30 s lets it finish.
  await b().apply(manifest('prestop-exec', {
    terminationGracePeriodSeconds: 1,
    volumes: [hostVolume()],
    containers: [box('app', 'sleep 3600', { volumeMounts: [hostMount], lifecycle: { preStop: { exec: { command: ['sh', '-c', 'sleep 6; echo done > /host/prestop-exec'] } } } })],
  }));
  await b().apply(manifest('prestop-fail', {
    containers: [box('app', 'sleep 3600', { lifecycle: { preStop: { exec: { command: ['sh', '-c', 'exit 3'] } } } })],
  }));
  await running('prestop-exec');
  await running('prestop-fail');
  await Promise.all([
    b().kubectl(['delete', 'pod', 'prestop-exec', '-n', NS, '--grace-period=30', '--wait=true', '--timeout=60s']),
    b().kubectl(['delete', 'pod', 'prestop-fail', '-n', NS, '--wait=true', '--timeout=60s']),
  ]);
  assert.equal(readFileSync(join(hostDir, 'prestop-exec'), 'utf8').trim(), 'done');
  const ev = await b().waitFor(async () => {
    const out = await events('FailedPreStopHook');
    return out.includes('prestop-fail') ? out : undefined;
  }, { what: 'a FailedPreStopHook Event', timeoutMs: 20_000 });
  assert.match(ev, /Exec lifecycle hook \(\[sh -c exit 3\]\) for Container "app"/);
});

test('a force delete cuts a preStop hook in progress short', { timeout: 120_000 }, async () => {
  await b().apply(manifest('prestop-long', {
    terminationGracePeriodSeconds: 300,
    containers: [box('app', 'sleep 3600', { lifecycle: { preStop: { sleep: { seconds: 240 } } } })],
  }));
  await running('prestop-long');
  const id = await b().containerId(NS, 'prestop-long', 'app', { running: true });
  assert.ok(id);
  await b().kubectl(['delete', 'pod', 'prestop-long', '-n', NS, '--wait=false']);
  await b().waitFor(async () => (await events('Killing')).includes('prestop-long'), { what: 'the Killing Event (preStop started)', timeoutMs: 30_000 });
  assert.equal((await b().docker(['inspect', '-f', '{{.State.Running}}', id])).trim(), 'true', 'still in its preStop sleep');
  await b().kubectl(['delete', 'pod', 'prestop-long', '-n', NS, '--force', '--grace-period=0']);
  // The preStop would hold it for 240 s and the grace period is 300 s: stopping within this wait is the cut.
  await b().waitFor(async () => (await b().docker(['inspect', '-f', '{{.State.Running}}', id])).trim() === 'false',
    { what: 'the container stopped after the force delete', timeoutMs: 45_000 });
});
