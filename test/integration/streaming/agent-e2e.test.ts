// End to end with the real daemon: the agent (its kubelet API on its port with Webhook authorization
// through the apiserver, the streaming plugin wired in by the agent) runs a pod from the apiserver;
// kubectl exec (exit code, stdin), attach, cp and port-forward (a loopback-only listener, 100 MiB
// intact, 10 connections at once) reach it through the apiserver. Then kubectl clients killed
// mid-stream (faults.test.ts drops 200 directly) leave no exec process in the pod and no descriptor open in the agent.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../../cluster/net.js';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = `streaming-e2e-${process.pid}`;
const NS = `stre2e-${process.pid}`;
const MiB = 1024 * 1024;
let bed: Bed;
let bigSha = '';

interface Res { code: number | null; stdout: string; stderr: string }

function kubectl(args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Res> {
  return new Promise((resolve) => {
    const child = spawn('kubectl', ['--kubeconfig', bed.cp.adminKubeconfigPath, '-n', NS, ...args], { env: { ...process.env, ...opts.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent(['--port', String(await freePort('0.0.0.0')), '--client-ca-file', bed.cp.caCertPath]);
  await bed.kubectl(['create', 'namespace', NS]);
  await bed.apply(`
apiVersion: v1
kind: Pod
metadata: { name: web, namespace: ${NS} }
spec:
  nodeName: ${NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: dockerlet/busybox:1.36
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && dd if=/dev/urandom of=/www/big bs=1M count=100 2>/dev/null && head -c 10485760 /www/big > /www/mid && echo hi > /www/index.html && httpd -p 127.0.0.1:8080 -h /www && exec sleep 100000"]
  - name: tty
    image: dockerlet/busybox:1.36
    imagePullPolicy: Never
    command: ["sh"]
    tty: true
    stdin: true
`);
  await bed.waitFor(async () => {
    const p = await bed.pod(NS, 'web');
    return p?.status?.containerStatuses?.every((c) => c.state?.running) && p.status.containerStatuses.length === 2;
  }, { what: 'pod web running', timeoutMs: 90_000 });
  await bed.waitFor(async () => (await kubectl(['exec', 'web', '-c', 'app', '--', 'test', '-s', '/www/index.html'])).code === 0, { what: 'content ready' });
  bigSha = (await kubectl(['exec', 'web', '-c', 'app', '--', 'sha256sum', '/www/big'])).stdout.split(' ')[0]!;
});

after(async () => {
  await bed?.kubectl(['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
  await bed?.stop();
});

test('kubectl exec: the exit code of sh -c \'exit 3\' is 3, stdin reaches the process (WebSocket and SPDY)', async () => {
  for (const env of [{}, { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }] as Record<string, string>[]) {
    const r = await kubectl(['exec', 'web', '-c', 'app', '--', 'sh', '-c', 'echo out; exit 3'], { env });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'out\n');
    const input = randomBytes(2 * MiB);
    const s = await kubectl(['exec', '-i', 'web', '-c', 'app', '--', 'sha256sum'], { env, input });
    assert.equal(s.stdout.split(' ')[0], createHash('sha256').update(input).digest('hex'), s.stderr);
  }
});

test('kubectl attach -i and kubectl cp both ways', async () => {
  const child = spawn('kubectl', ['--kubeconfig', bed.cp.adminKubeconfigPath, '-n', NS, 'attach', '-i', 'web', '-c', 'tty']);
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  try {
    for (let i = 0; i < 40 && !out.includes('att-42'); i++) {
      child.stdin.write('echo att-$((6*7))\n');
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(out, /att-42/);
  } finally {
    child.kill('SIGKILL');
  }
  const data = randomBytes(3 * MiB);
  await writeFile(join(bed.dir, 'up.bin'), data);
  const up = await kubectl(['cp', join(bed.dir, 'up.bin'), 'web:/tmp/up.bin', '-c', 'app']);
  assert.equal(up.code, 0, up.stderr);
  const down = await kubectl(['cp', 'web:/tmp/up.bin', join(bed.dir, 'down.bin'), '-c', 'app']);
  assert.equal(down.code, 0, down.stderr);
  assert.ok((await readFile(join(bed.dir, 'down.bin'))).equals(data));
});

function get(port: number, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => {
      const all = Buffer.concat(chunks);
      resolve(all.subarray(all.indexOf('\r\n\r\n') + 4));
    });
    s.once('error', reject);
    s.end(`GET ${path} HTTP/1.0\r\n\r\n`);
  });
}

test('kubectl port-forward: loopback-only listener, 100 MiB intact, 10 connections at once', async () => {
  const port = await freePort();
  const child = spawn('kubectl', ['--kubeconfig', bed.cp.adminKubeconfigPath, '-n', NS, 'port-forward', 'pod/web', `${port}:8080`, '--address', '127.0.0.1']);
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('port-forward did not start')), 20_000);
      child.stdout.on('data', (c: Buffer) => c.toString().includes('Forwarding from') && (clearTimeout(t), resolve()));
    });
    assert.equal((await get(port, '/index.html')).toString(), 'hi\n');
    const big = await get(port, '/big');
    assert.equal(createHash('sha256').update(big).digest('hex'), bigSha);
    const many = await Promise.all(Array.from({ length: 10 }, () => get(port, '/mid')));
    for (const b of many) assert.ok(b.equals(big.subarray(0, 10 * MiB)));
  } finally {
    child.kill('SIGTERM');
  }
});

test('exec sessions dropped mid-stream: no exec process left in the pod, no descriptor left in the agent', async () => {
  const pid = bed.agentPid();
  assert.ok(pid);
  // Descriptors a session could leak: everything but the files the metrics collector keeps open by
  // design (cgroup files and sandboxes' net/dev, re-read every housekeeping; closed when their container goes).
  const fds = () => readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return !/^\/(sys\/fs\/cgroup\/|proc\/\d+\/net\/)/.test(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      return false;
    }
  }).length;
  const sleepers = async () => (await bed.exec(NS, 'web', 'app', ['ps', '-o', 'args'])).split('\n').filter((l) => l.startsWith('sleep 1002')).length;
  await kubectl(['exec', 'web', '-c', 'app', '--', 'true']);
  const before = fds();
  const drop = () => new Promise<void>((resolve) => {
    const child = spawn('kubectl', ['--kubeconfig', bed.cp.adminKubeconfigPath, '-n', NS, 'exec', 'web', '-c', 'app', '--', 'sh', '-c', 'echo started; exec sleep 1002']);
    child.stdout.once('data', () => child.kill('SIGKILL'));
    const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
  for (let round = 0; round < 5; round++) await Promise.all(Array.from({ length: 10 }, drop));
  await bed.waitFor(async () => (await sleepers()) === 0 && fds() <= before + 2, { what: 'sessions cleaned up', timeoutMs: 60_000 }).catch(() => undefined);
  assert.equal(await sleepers(), 0, 'exec processes of dropped sessions are killed');
  // The apiserver may keep a pooled connection or two to the kubelet: allow that much.
  assert.ok(fds() <= before + 2, `agent descriptors: ${before} before, ${fds()} after; its TCP peers:\n${tcpPeers(pid)}`);
});

/** The process's TCP connections counted by state and peer (ss), to say whose sockets were kept. */
function tcpPeers(pid: number): string {
  try {
    const out = execFileSync('ss', ['-Htanp'], { encoding: 'utf8' });
    const counts = new Map<string, number>();
    for (const line of out.split('\n')) {
      if (!line.includes(`pid=${pid},`)) continue;
      const f = line.trim().split(/\s+/);
      const key = `${f[0]} local ${f[3]?.replace(/:\d+$/, ':*')} peer ${f[4]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const kinds = new Map<string, number>();
    const unix = new Map<string, string>();
    for (const l of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const f = l.trim().split(/\s+/);
      if (f[6]) unix.set(f[6], f[7] ?? '(unnamed)');
    }
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let t: string;
      try { t = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
      const inode = /^socket:\[(\d+)\]$/.exec(t)?.[1];
      const k = inode ? (unix.has(inode) ? `unix ${unix.get(inode)}` : 'socket (inet)') : t.replace(/\[\d+\]$/, '').replace(/^\/.*/, 'file');
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    return [...counts, ...kinds].map(([k, n]) => `${n} × ${k}`).join('\n');
  } catch (err) {
    return `(ss failed: ${(err as Error).message})`;
  }
}
