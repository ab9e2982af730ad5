// The real control-plane test bed: it comes up, authenticates and authorizes like a real cluster
// (Node authorizer + NodeRestriction + RBAC), runs the controller manager, and leaves nothing behind.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startControlPlane, type ControlPlane } from '../../cluster/harness.js';

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const COMPONENTS = new Set(['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);

interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

function kubectl(kubeconfig: string, args: string[], stdin?: string): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(KUBECTL, ['--kubeconfig', kubeconfig, '--request-timeout=20s', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    child.stdin?.end(stdin ?? '');
  });
}

const nodeManifest = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } });

/** Children of this process whose command name is one of the control-plane components (from /proc). */
function componentChildren(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      // comm is truncated to 15 characters by the kernel.
      const known = [...COMPONENTS].some((c) => c.slice(0, 15) === comm);
      if (ppid === process.pid && known) out.push(Number(entry));
    } catch {
      /* process vanished while scanning */
    }
  }
  return out.sort((a, b) => a - b);
}

let cp: ControlPlane | undefined;

before(async () => {
  cp = await startControlPlane();
}, { timeout: 180_000 });

after(async () => {
  await cp?.stop();
});

function plane(): ControlPlane {
  assert.ok(cp, 'control plane started');
  return cp;
}

test('kubectl with the admin kubeconfig sees a ready apiserver', async () => {
  const r = await kubectl(plane().adminKubeconfigPath, ['get', '--raw', '/readyz']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok');
  assert.match(plane().server, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(plane().serviceCidr, '10.96.0.0/16');
});

test('the kubernetes Service endpoint is the advertise address', async () => {
  const r = await kubectl(plane().adminKubeconfigPath, ['get', 'endpointslice', '-n', 'default', 'kubernetes', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const slice = JSON.parse(r.stdout) as { endpoints?: { addresses: string[] }[]; ports?: { port: number }[] };
  assert.deepEqual(slice.endpoints?.flatMap((e) => e.addresses), [plane().advertiseAddress]);
  assert.equal(slice.ports?.[0]?.port, plane().apiPort);
});

test('the controller manager creates the default ServiceAccount', async () => {
  const r = await kubectl(plane().adminKubeconfigPath, ['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'jsonpath={.metadata.name}']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'default');
});

test('a node credential may create its own Node but not another (NodeRestriction)', async () => {
  const creds = await plane().mintNodeCredentials('n1');
  assert.ok(existsSync(creds.certPath) && existsSync(creds.keyPath));
  const who = await kubectl(creds.kubeconfigPath, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
  assert.equal(who.code, 0, who.stderr);
  assert.equal(who.stdout, 'system:node:n1');

  const own = await kubectl(creds.kubeconfigPath, ['create', '-f', '-'], nodeManifest('n1'));
  assert.equal(own.code, 0, own.stderr);
  const got = await kubectl(plane().adminKubeconfigPath, ['get', 'node', 'n1', '-o', 'jsonpath={.metadata.name}']);
  assert.equal(got.stdout, 'n1', got.stderr);

  const other = await kubectl(creds.kubeconfigPath, ['create', '-f', '-'], nodeManifest('n2'));
  assert.notEqual(other.code, 0, 'creating Node n2 as system:node:n1 must fail');
  assert.match(other.stderr, /forbidden/i);
  assert.match(other.stderr, /not allowed to modify node "n2"/);
  const none = await kubectl(plane().adminKubeconfigPath, ['get', 'node', 'n2']);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /NotFound|not found/);
});

test('a minted user kubeconfig carries the user and groups, and RBAC applies', async () => {
  const path = await plane().mintUserKubeconfig('alice', ['devs', 'qa']);
  const who = await kubectl(path, ['auth', 'whoami', '-o', 'json']);
  assert.equal(who.code, 0, who.stderr);
  const info = (JSON.parse(who.stdout) as { status: { userInfo: { username: string; groups: string[] } } }).status.userInfo;
  assert.equal(info.username, 'alice');
  assert.deepEqual(info.groups.filter((g) => g !== 'system:authenticated'), ['devs', 'qa']);
  const pods = await kubectl(path, ['get', 'pods', '-n', 'default']);
  assert.notEqual(pods.code, 0);
  assert.match(pods.stderr, /forbidden/i);
});

test('the apiserver may reach kubelets as kubelet-api-admin', async () => {
  const r = await kubectl(plane().adminKubeconfigPath, ['auth', 'can-i', 'get', 'nodes/proxy', '--as', 'kube-apiserver']);
  assert.equal(r.stdout.trim(), 'yes', r.stderr);
});

test('logTail shows every component and stop() leaves no process or temp dir behind', async () => {
  const c = plane();
  const tail = c.logTail(5);
  for (const name of COMPONENTS) assert.match(tail, new RegExp(`==> ${name} \\(running`));
  const pids = c.pids().sort((a, b) => a - b);
  assert.equal(pids.length, 4);
  assert.deepEqual(componentChildren(), pids);
  await c.stop();
  assert.deepEqual(c.pids(), []);
  assert.deepEqual(componentChildren(), []);
  for (const pid of pids) assert.equal(existsSync(`/proc/${pid}`), false, `pid ${pid} still exists`);
  if (process.env.DOCKERLET_KEEP_CLUSTER !== '1') assert.equal(existsSync(c.dir), false);
  await c.stop(); // idempotent
});
