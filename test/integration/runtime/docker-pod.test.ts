// Real Docker: a pod sandbox plus app containers joined to it, adoption through listManaged,
// command/args, env/binds/tmpfs/limits, logs, termination message, host ports and events.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { silentLogger } from '../../../lib/log.js';
import { freePort } from '../../cluster/net.js';
import { DockerRuntime } from '../../../runtime/docker/runtime.js';
import type { ContainerCreateSpec, ContainerIdentity, ObservedContainer, RuntimeEvent } from '../../../runtime/types.js';

const PAUSE = 'registry.k8s.io/pause:3.10';
const BUSYBOX = 'dockerlet/busybox:1.36';
const RUN = `h3p${randomBytes(3).toString('hex')}`;
const POD_UID = `${RUN}-0000-4000-8000-pod`;
const EP_IMAGE = `dockerlet-test/h3-ep:${RUN}`;
const docker = new Dockerode();
const rt = new DockerRuntime({ log: silentLogger() });
const dir = mkdtempSync(join(tmpdir(), 'dkl-rt-pod-'));
chmodSync(dir, 0o777);
let sandboxId = '';
let hostPort = 0;
let seq = 0;

function ident(containerName: string, over: Partial<ContainerIdentity> = {}): ContainerIdentity {
  return {
    podUid: POD_UID, podName: 'web', podNamespace: 'rt-test', containerName, kind: 'container',
    attempt: 0, restartCount: 0, specHash: 'hash-' + containerName, ...over,
  };
}

function spec(name: string, over: Partial<ContainerCreateSpec> = {}): ContainerCreateSpec {
  return { identity: ident(name), sandboxId, image: BUSYBOX, env: [], mounts: [], resources: {}, annotations: {}, ...over };
}

async function mine(r: DockerRuntime = rt): Promise<ObservedContainer[]> {
  return (await r.listManaged()).filter((c) => c.podUid.startsWith(RUN));
}

async function waitFor(id: string, states: ObservedContainer['state'][]): Promise<ObservedContainer> {
  for (let i = 0; i < 300; i++) {
    const c = (await mine()).find((x) => x.id === id);
    if (c && states.includes(c.state)) return c;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`container ${id} never reached ${states.join('/')}`);
}

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts).toString();
}

/** Creates, starts and waits for the exit of a one-shot container; returns its state and output. */
async function runOnce(name: string, over: Partial<ContainerCreateSpec>): Promise<{ obs: ObservedContainer; out: string }> {
  const id = await rt.createContainer(spec(`${name}-${seq++}`, over));
  await rt.startContainer(id);
  const obs = await waitFor(id, ['exited']);
  return { obs, out: await text(await rt.logs(id, {})) };
}

/** Records the ids of every Container.inspect call until restore(). */
function spyInspect(): string[] & { restore(): void } {
  const proto = Dockerode.Container.prototype as unknown as { inspect: (...a: unknown[]) => unknown };
  const orig = proto.inspect;
  const seen = Object.assign([] as string[], { restore: () => { proto.inspect = orig; } });
  proto.inspect = function (this: { id: string }, ...a: unknown[]) {
    seen.push(this.id);
    return orig.apply(this, a);
  };
  return seen;
}

before(async () => {
  hostPort = await freePort();
  sandboxId = await rt.runSandbox({
    identity: ident('POD', { kind: 'sandbox', attempt: 1, specHash: 'sb' }),
    image: PAUSE, hostname: 'web-host', hostNetwork: false,
    portBindings: [{ containerPort: 80, hostPort, hostIP: '127.0.0.1', protocol: 'TCP' }],
    dns: { servers: ['10.96.0.10'], searches: ['rt-test.svc.cluster.local'], options: ['ndots:5'] },
    labels: { app: 'web' },
  });
  // An image with ENTRYPOINT/CMD of its own, for command/args semantics.
  const base = await docker.createContainer({ Image: BUSYBOX, Labels: { 'io.kubernetes.pod.uid': `${RUN}-base` } });
  await base.commit({ repo: EP_IMAGE.split(':')[0], tag: RUN, changes: ['ENTRYPOINT ["echo","ep:"]', 'CMD ["default"]'] });
  await base.remove({ force: true });
});

after(async () => {
  const all = await docker.listContainers({ all: true, filters: { label: ['io.kubernetes.pod.uid'] } });
  for (const c of all) {
    if (c.Labels['io.kubernetes.pod.uid']?.startsWith(RUN)) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
  }
  await docker.getImage(EP_IMAGE).remove({ force: true }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

test('sandbox is running with an IP, hostname, DNS config and shareable IPC', async () => {
  const sb = (await mine()).find((c) => c.id === sandboxId);
  assert.ok(sb, 'sandbox listed');
  assert.equal(sb.state, 'running');
  assert.equal(sb.kind, 'sandbox');
  assert.match(sb.ip ?? '', /^\d+\.\d+\.\d+\.\d+$/);
  assert.equal(sb.imageRef.startsWith('docker://sha256:'), true);
  const info = await docker.getContainer(sandboxId).inspect();
  assert.equal(info.HostConfig.IpcMode, 'shareable');
  assert.equal(info.Config.Labels.app, 'web');
  const { out } = await runOnce('dns', { command: ['sh', '-c', 'hostname; cat /etc/resolv.conf'] });
  assert.match(out, /^web-host\n/);
  assert.match(out, /nameserver 10\.96\.0\.10/);
  assert.match(out, /search rt-test\.svc\.cluster\.local/);
  assert.match(out, /options ndots:5/);
});

test('app containers share the sandbox network, IPC and (when asked) PID namespaces', async () => {
  const sb = (await mine()).find((c) => c.id === sandboxId)!;
  const netNs = readlinkSync(`/proc/${sb.pid}/ns/net`);
  const ipcNs = readlinkSync(`/proc/${sb.pid}/ns/ipc`);
  const { out } = await runOnce('ns', {
    command: ['sh', '-c', 'ip -o -4 addr show eth0; readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; echo hi > /dev/shm/h3'],
  });
  assert.ok(out.includes(`inet ${sb.ip}/`), out);
  assert.ok(out.includes(netNs) && out.includes(ipcNs), out);
  const shm = await runOnce('shm', { command: ['cat', '/dev/shm/h3'] });
  assert.equal(shm.out, 'hi\n');
  const pid = await runOnce('pid', { sharePid: true, command: ['cat', '/proc/1/cmdline'] });
  assert.match(pid.out, /^\/pause/);
  const own = await runOnce('nopid', { command: ['cat', '/proc/1/cmdline'] });
  assert.match(own.out, /^cat/);
});

test('listManaged on a fresh runtime adopts containers with their exact identity', async () => {
  const identity = ident('adopt', { attempt: 7, restartCount: 6, specHash: 'deadbeef' });
  const annotations = { 'io.kubernetes.container.terminationMessagePath': '/dev/termination-log', 'x.io/k': 'v=1' };
  const id = await rt.createContainer(spec('adopt', { identity, annotations, command: ['sleep', '300'] }));
  await rt.startContainer(id);
  const fresh = new DockerRuntime({ log: silentLogger() });
  const first = (await mine(fresh)).find((c) => c.id === id)!;
  assert.ok(first, 'adopted');
  const { podUid, podName, podNamespace, containerName, kind, attempt, restartCount, specHash } = first;
  assert.deepEqual({ podUid, podName, podNamespace, containerName, kind, attempt, restartCount, specHash }, identity);
  assert.deepEqual(first.annotations, annotations);
  assert.equal(first.dockerName, `k8s_adopt_web_rt-test_${POD_UID}_7`);
  assert.equal(first.sandboxId, sandboxId);
  assert.equal(first.state, 'running');
  assert.equal(first.image, BUSYBOX);
  assert.ok(first.startedAt && !first.finishedAt && first.exitCode === undefined);
  // the cached second answer is identical and needs no inspect; a change made elsewhere is picked
  // up on the next call with one inspect of that container only
  const inspected = spyInspect();
  let stopped: ObservedContainer;
  try {
    assert.deepEqual((await mine(fresh)).find((c) => c.id === id), first);
    assert.equal(inspected.filter((x) => x === id || x === sandboxId).length, 0);
    await rt.stopContainer(id, 0);
    inspected.length = 0;
    stopped = (await mine(fresh)).find((c) => c.id === id)!;
    assert.deepEqual(inspected.filter((x) => x === id || x === sandboxId), [id]);
  } finally {
    inspected.restore();
  }
  assert.equal(stopped.state, 'exited');
  assert.equal(stopped.exitCode, 137);
  assert.ok(stopped.finishedAt);
  await rt.removeContainer(id);
  assert.equal((await mine(fresh)).some((c) => c.id === id), false);
  await rt.removeContainer(id); // a missing container is not an error
});

test('command and args follow Kubernetes semantics', async () => {
  const run = async (over: Partial<ContainerCreateSpec>) => (await runOnce('cmd', { image: EP_IMAGE, ...over })).out;
  assert.equal(await run({}), 'ep: default\n');
  assert.equal(await run({ args: ['x', 'y'] }), 'ep: x y\n');
  assert.equal(await run({ command: ['echo', 'c'] }), 'c\n');
  assert.equal(await run({ command: ['echo', 'c'], args: ['a'] }), 'c a\n');
});

test('env, workingDir, binds (rw and ro), tmpfs and memory limit', async () => {
  const rw = mkdtempSync(join(dir, 'rw-'));
  const ro = mkdtempSync(join(dir, 'ro-'));
  chmodSync(rw, 0o777);
  writeFileSync(join(ro, 'in'), 'from-host');
  const script = [
    'echo "$FOO|$(pwd)"', 'cat /ro/in; echo', 'echo written > /rw/out',
    'if (echo x > /ro/x) 2>/dev/null; then echo ro-writable; else echo ro-refused; fi',
    'grep " /scratch " /proc/mounts | cut -d" " -f3',
    'printf "#!/bin/sh\\necho exec-ok\\n" > /scratch/s.sh; chmod +x /scratch/s.sh; /scratch/s.sh',
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes',
  ].join('; ');
  const { obs, out } = await runOnce('env', {
    command: ['sh', '-c', script],
    env: [{ name: 'FOO', value: 'bar baz' }],
    workingDir: '/tmp',
    mounts: [{ hostPath: rw, containerPath: '/rw', readOnly: false }, { hostPath: ro, containerPath: '/ro', readOnly: true }],
    tmpfs: [{ containerPath: '/scratch', sizeBytes: 8 * 1024 * 1024 }],
    resources: { memoryLimitBytes: 64 * 1024 * 1024, cpuShares: 256 },
  });
  assert.equal(obs.exitCode, 0, out);
  assert.deepEqual(out.trim().split('\n'), ['bar baz|/tmp', 'from-host', 'ro-refused', 'tmpfs', 'exec-ok', String(64 * 1024 * 1024)]);
  assert.equal(readFileSync(join(rw, 'out'), 'utf8'), 'written\n');
});

test('logs: stdout and stderr in order, tail, timestamps, follow, tty', async () => {
  const { obs } = await runOnce('logs', { command: ['sh', '-c', 'for i in 1 2 3 4; do echo out$i; done; echo last'] });
  assert.equal(await text(await rt.logs(obs.id, {})), 'out1\nout2\nout3\nout4\nlast\n');
  assert.equal(await text(await rt.logs(obs.id, { tailLines: 2 })), 'out4\nlast\n');
  // Docker copies stdout and stderr concurrently, so only per-stream order is guaranteed.
  const mixed = await runOnce('mixed', { command: ['sh', '-c', 'echo o1; echo e1 >&2; echo o2; echo e2 >&2'] });
  const lines = mixed.out.trim().split('\n');
  assert.deepEqual(lines.filter((l) => l.startsWith('o')), ['o1', 'o2']);
  assert.deepEqual(lines.filter((l) => l.startsWith('e')), ['e1', 'e2']);
  assert.equal(await text(await rt.logs(obs.id, { limitBytes: 6 })), 'out1\no');
  const stamped = (await text(await rt.logs(obs.id, { tailLines: 1, timestamps: true }))).trim();
  assert.match(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z last$/);
  const tty = await runOnce('tty', { tty: true, command: ['sh', '-c', 'echo tty-out'] });
  assert.equal(tty.out.replace(/\r/g, ''), 'tty-out\n');

  const id = await rt.createContainer(spec('follow', { command: ['sh', '-c', 'echo first; sleep 300'] }));
  await rt.startContainer(id);
  const ac = new AbortController();
  const stream = await rt.logs(id, { follow: true, signal: ac.signal });
  let got = '';
  for await (const c of stream as AsyncIterable<Buffer>) {
    got += c.toString();
    if (got.includes('first\n')) ac.abort();
  }
  assert.equal(got, 'first\n');
  await rt.removeContainer(id);
});

test('termination message: bind-mounted host file, readable with readFile after exit', async () => {
  const hostFile = join(dir, 'term', 'msg'); // created by createContainer
  const { obs } = await runOnce('term', {
    command: ['sh', '-c', 'printf "all done" > /dev/termination-log; printf custom > /tmp/msg; exit 4'],
    terminationMessageHostPath: hostFile,
  });
  assert.equal(obs.exitCode, 4);
  assert.equal(readFileSync(hostFile, 'utf8'), 'all done');
  assert.equal(await rt.readFile(obs.id, '/dev/termination-log', 4096), 'all done');
  assert.equal(await rt.readFile(obs.id, '/tmp/msg', 3), 'cus');
  assert.equal(await rt.readFile(obs.id, '/no/such/file', 10), undefined);
});

test('host port binding reaches the pod', async () => {
  const id = await rt.createContainer(spec('httpd', {
    command: ['sh', '-c', 'mkdir /www; echo pod-says-hi > /www/index.html; exec httpd -f -p 80 -h /www'],
  }));
  await rt.startContainer(id);
  let body = '';
  for (let i = 0; i < 50 && !body; i++) {
    body = await fetch(`http://127.0.0.1:${hostPort}/`).then((r) => r.text()).catch(() => '');
    if (!body) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(body, 'pod-says-hi\n');
  await rt.removeContainer(id);
});

test('a leftover container with the same name is replaced', async () => {
  const s = spec('dup', { command: ['true'] });
  const first = await rt.createContainer(s);
  const second = await rt.createContainer(s);
  assert.notEqual(first, second);
  const ids = (await mine()).filter((c) => c.containerName === 'dup').map((c) => c.id);
  assert.deepEqual(ids, [second]);
});

test('watchEvents reports lifecycle events of managed containers until aborted', async () => {
  const ac = new AbortController();
  const events: RuntimeEvent[] = [];
  const done = rt.watchEvents(ac.signal, (e) => events.push(e));
  await new Promise((r) => setTimeout(r, 300)); // let the stream connect
  const { obs } = await runOnce('ev', { command: ['true'] });
  for (let i = 0; i < 50 && !events.some((e) => e.id === obs.id && e.action === 'die'); i++) await new Promise((r) => setTimeout(r, 100));
  ac.abort();
  await done;
  const actions = events.filter((e) => e.id === obs.id).map((e) => e.action);
  assert.ok(actions.includes('start') && actions.includes('die'), actions.join(','));
  assert.equal(events.find((e) => e.id === obs.id)?.podUid, POD_UID);
});

test('stopping the pause sandbox delivers its STOPSIGNAL (SIGINT): clean exit, not SIGKILL', async () => {
  await rt.stopContainer(sandboxId, 20);
  const sb = await waitFor(sandboxId, ['exited']);
  assert.equal(sb.exitCode, 0);
  assert.equal(sb.ip, undefined);
});
