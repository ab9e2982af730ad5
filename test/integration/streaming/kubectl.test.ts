// What users do, through their tools: kubectl exec (WebSocket → the apiserver's translator → SPDY, and
// SPDY passed straight through), exec -i / -it with resize, attach, cp both ways and port-forward
// (the WebSocket tunnel and plain SPDY; 100 MiB each way intact, 10 connections at once) against a
// real apiserver whose node's kubelet endpoint is the streaming plugin, pods on real Docker.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../../cluster/net.js';
import { startBed, type Bed } from './bed.js';

let bed: Bed;
const SPDY = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' };
const TRANSPORTS = [['websocket', {}], ['spdy', SPDY]] as const;
const MiB = 1024 * 1024;

before(async () => {
  bed = await startBed();
  const r = await bed.kubectl(['-n', bed.namespace, 'exec', bed.pod, '-c', 'app', '--', 'sh', '-c',
    'dd if=/dev/urandom of=/www/big bs=1M count=100 2>/dev/null && head -c 10485760 /www/big > /www/mid && (nc -ll -p 9000 -e sha256sum >/dev/null 2>&1 &) && sha256sum /www/big']);
  assert.equal(r.code, 0, r.stderr);
  bigSha = r.stdout.split(' ')[0]!;
});

after(async () => {
  await bed?.stop();
});

let bigSha = '';
const ex = (args: string[], opts: Parameters<Bed['kubectl']>[1] = {}) => bed.kubectl(['-n', bed.namespace, 'exec', ...args], opts);

for (const [name, env] of TRANSPORTS) {
  test(`exec (${name}): stdout, stderr and the exit code of sh -c 'exit 3'`, async () => {
    const r = await ex([bed.pod, '-c', 'app', '--', 'sh', '-c', 'echo to-out; echo to-err >&2; exit 3'], { env });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'to-out\n');
    assert.match(r.stderr, /to-err/);
    assert.match(r.stderr, /command terminated with exit code 3/);
    const ok = await ex([bed.pod, '-c', 'app', '--', 'true'], { env });
    assert.equal(ok.code, 0, ok.stderr);
  });

  test(`exec -i (${name}): stdin reaches the process and its EOF ends it`, async () => {
    const input = randomBytes(3 * MiB);
    const r = await ex(['-i', bed.pod, '-c', 'app', '--', 'sha256sum'], { env, input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], createHash('sha256').update(input).digest('hex'));
  });

  test(`exec -it (${name}): the terminal gets the client's size and later resizes`, async () => {
    // script(1) gives kubectl a terminal (its name printed first) of 33x111; once the remote shell
    // has reported that size the test resizes the terminal to 44x122, signals kubectl (SIGWINCH, as a
    // terminal emulator does) and presses enter; the shell then reports the new size. (The remote waits
    // a second first: Docker API 1.41 cannot size an exec's terminal at creation, so the first size
    // lands just after the process starts, as with dockershim and the docker CLI.)
    const kc = `kubectl --kubeconfig ${bed.cp.adminKubeconfigPath} -n ${bed.namespace}`;
    const inner = `echo "local=$(tty)"; stty rows 33 cols 111; exec ${kc} exec -it ${bed.pod} -c app -- sh -c 'sleep 1; stty size; read x; stty size; exit 4'`;
    const { spawn, execFileSync } = await import('node:child_process');
    const child = spawn('script', ['-qec', inner, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const waitFor = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(out, re);
    };
    try {
      await waitFor(/33 111/);
      const pty = /local=(\/dev\/pts\/\d+)/.exec(out)?.[1];
      assert.ok(pty, out);
      execFileSync('stty', ['-F', pty, 'rows', '44', 'cols', '122']);
      const kubectlPid = execFileSync('pgrep', ['-P', String(child.pid)]).toString().trim().split('\n')[0]!;
      process.kill(Number(kubectlPid), 'SIGWINCH');
      await new Promise((r) => setTimeout(r, 300));
      child.stdin.write('\r');
      await waitFor(/44 122/);
      await exited;
      assert.match(out, /command terminated with exit code 4/);
    } finally {
      child.kill('SIGKILL');
    }
  });
}

test('attach -i: input reaches the container\'s shell and its output comes back', async () => {
  const marker = `attached-${randomBytes(4).toString('hex')}`;
  const { spawn } = await import('node:child_process');
  const child = spawn('kubectl', ['--kubeconfig', bed.cp.adminKubeconfigPath, '-n', bed.namespace, 'attach', '-i', bed.pod, '-c', 'tty'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  try {
    // Keep typing until the shell answers (the attach may still be starting when the first line goes).
    for (let i = 0; i < 40 && !out.includes(`${marker}-42`); i++) {
      child.stdin.write(`echo ${marker}-$((6*7))\n`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(out, new RegExp(`${marker}-42`));
  } finally {
    child.kill('SIGKILL');
  }
});

test('cp both ways keeps the bytes (tar over exec)', async () => {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'dkl-cp-'));
  const data = randomBytes(5 * MiB);
  await writeFile(join(dir, 'up.bin'), data);
  const up = await bed.kubectl(['-n', bed.namespace, 'cp', join(dir, 'up.bin'), `${bed.pod}:/tmp/up.bin`, '-c', 'app']);
  assert.equal(up.code, 0, up.stderr);
  const sum = await ex([bed.pod, '-c', 'app', '--', 'sha256sum', '/tmp/up.bin']);
  assert.equal(sum.stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'));
  const down = await bed.kubectl(['-n', bed.namespace, 'cp', `${bed.pod}:/tmp/up.bin`, join(dir, 'down.bin'), '-c', 'app']);
  assert.equal(down.code, 0, down.stderr);
  assert.ok((await readFile(join(dir, 'down.bin'))).equals(data));
});

/** Starts kubectl port-forward to remote port(s) and resolves once it listens. */
async function portForward(remote: number, env: Record<string, string>): Promise<{ port: number; stop(): void; log(): string }> {
  const port = await freePort();
  const child = bed.spawnKubectl(['-n', bed.namespace, 'port-forward', `pod/${bed.pod}`, `${port}:${remote}`, '--address', '127.0.0.1'], env);
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`port-forward did not start: ${log}`)), 20_000);
    const on = (c: Buffer) => {
      log += c.toString();
      if (log.includes('Forwarding from')) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', () => reject(new Error(`port-forward exited: ${log}`)));
  });
  child.stdout!.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  return { port, stop: () => child.kill('SIGTERM'), log: () => log };
}

/** Sends `send` (then half-closes) and returns what the server answered. */
function tcpExchange(port: number, send: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
    s.setTimeout(60_000, () => s.destroy(new Error('exchange timed out')));
    s.end(send);
  });
}

async function httpGet(port: number, path: string): Promise<Buffer> {
  const res = await tcpExchange(port, `GET ${path} HTTP/1.0\r\nHost: pod\r\n\r\n`);
  const i = res.indexOf('\r\n\r\n');
  assert.ok(i > 0, 'HTTP response');
  assert.match(res.subarray(0, i).toString(), /^HTTP\/1\.[01] 200/);
  return res.subarray(i + 4);
}

for (const [name, env] of [['websocket tunnel', {}], ['spdy', { PORT_FORWARD_WEBSOCKETS: 'false' }]] as const) {
  test(`port-forward (${name}): a loopback-only listener in the pod, 100 MiB each way intact, 10 connections at once (10 MiB each)`, async () => {
    const pf = await portForward(8080, env);
    const up = await portForward(9000, env);
    try {
      assert.equal((await httpGet(pf.port, '/index.html')).toString(), 'hello-from-pod\n');
      const big = await httpGet(pf.port, '/big');
      assert.equal(big.length, 100 * MiB);
      assert.equal(createHash('sha256').update(big).digest('hex'), bigSha);
      const payload = randomBytes(100 * MiB);
      const answer = await tcpExchange(up.port, payload);
      assert.equal(answer.toString().split(' ')[0], createHash('sha256').update(payload).digest('hex'));
      const many = await Promise.all(Array.from({ length: 10 }, () => httpGet(pf.port, '/mid')));
      for (const body of many) assert.ok(body.equals(big.subarray(0, 10 * MiB)));
    } finally {
      pf.stop();
      up.stop();
    }
  });
}

test('port-forward to a port nothing listens on reports the error and kubectl says so', async () => {
  const pf = await portForward(9, { PORT_FORWARD_WEBSOCKETS: 'false' });
  try {
    const res = await tcpExchange(pf.port, 'x').catch(() => Buffer.alloc(0));
    assert.equal(res.length, 0);
    for (let i = 0; i < 50 && !/error forwarding port 9/.test(pf.log()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(pf.log(), /error forwarding port 9 to pod [0-9a-f]+, uid [-0-9a-f]+: failed to connect to localhost:9 inside namespace/);
  } finally {
    pf.stop();
  }
});
