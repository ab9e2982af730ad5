// Real Docker: stop semantics (image STOPSIGNAL, SIGKILL after grace), exit codes, OOM, start
// failures, image operations and their error codes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';
import { DockerRuntime } from '../../../runtime/docker/runtime.js';
import type { ContainerCreateSpec, ContainerIdentity, ObservedContainer, PullProgress } from '../../../runtime/types.js';

const PAUSE = 'registry.k8s.io/pause:3.10';
const BUSYBOX = 'dockerlet/busybox:1.36';
const RUN = `h3l${randomBytes(3).toString('hex')}`;
const POD_UID = `${RUN}-0000-4000-8000-pod`;
const USR1_IMAGE = `dockerlet-test/h3-usr1:${RUN}`;
const docker = new Dockerode();
const rt = new DockerRuntime({ log: silentLogger() });
const dir = mkdtempSync(join(tmpdir(), 'dkl-rt-life-'));
chmodSync(dir, 0o777);
let sandboxId = '';
let seq = 0;

function spec(name: string, over: Partial<ContainerCreateSpec> = {}): ContainerCreateSpec {
  const identity: ContainerIdentity = {
    podUid: POD_UID, podName: 'life', podNamespace: 'rt-test', containerName: `${name}-${seq++}`, kind: 'container',
    attempt: 0, restartCount: 0, specHash: 'h',
  };
  return { identity, sandboxId, image: BUSYBOX, env: [], mounts: [], resources: {}, annotations: {}, ...over };
}

async function observe(id: string): Promise<ObservedContainer | undefined> {
  return (await rt.listManaged()).find((c) => c.id === id);
}

async function waitFor(id: string, states: ObservedContainer['state'][]): Promise<ObservedContainer> {
  for (let i = 0; i < 300; i++) {
    const c = await observe(id);
    if (c && states.includes(c.state)) return c;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`container ${id} never reached ${states.join('/')}`);
}

async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(path), `${path} appeared`);
}

async function runToExit(name: string, over: Partial<ContainerCreateSpec>): Promise<ObservedContainer> {
  const id = await rt.createContainer(spec(name, over));
  await rt.startContainer(id);
  return waitFor(id, ['exited', 'dead']);
}

/** A script that records the signals it gets into /out and exits (or not) on the first. */
function trapScript(exitOnSignal: boolean): string {
  const onSig = (sig: string) => `'echo ${sig} >> /out/signals${exitOnSignal ? '; exit 3' : ''}' ${sig}`;
  return `trap ${onSig('USR1')}; trap ${onSig('TERM')}; trap ${onSig('INT')}; echo ready > /out/ready; ` +
    'while true; do sleep 1 & wait $!; done';
}

before(async () => {
  sandboxId = await rt.runSandbox({
    identity: { podUid: POD_UID, podName: 'life', podNamespace: 'rt-test', containerName: 'POD', kind: 'sandbox', attempt: 0, restartCount: 0, specHash: 's' },
    image: PAUSE, hostname: 'life', hostNetwork: false, portBindings: [],
  });
  const base = await docker.createContainer({ Image: BUSYBOX, Labels: { 'io.kubernetes.pod.uid': `${RUN}-base` } });
  // `changes` cannot set STOPSIGNAL; the commit body is a container config merged over the container's.
  await base.commit({ repo: USR1_IMAGE.split(':')[0], tag: RUN, StopSignal: 'SIGUSR1' });
  assert.equal(((await docker.getImage(USR1_IMAGE).inspect()).Config as { StopSignal?: string }).StopSignal, 'SIGUSR1');
  await base.remove({ force: true });
});

after(async () => {
  const all = await docker.listContainers({ all: true, filters: { label: ['io.kubernetes.pod.uid'] } });
  for (const c of all) {
    if (c.Labels['io.kubernetes.pod.uid']?.startsWith(RUN)) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
  }
  await docker.getImage(USR1_IMAGE).remove({ force: true }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

test('version and image inspection', async () => {
  const v = await rt.version();
  assert.equal(v.name, 'docker');
  assert.match(v.apiVersion, /^1\.\d+$/);
  const pause = await rt.inspectImage(PAUSE);
  assert.equal(pause?.stopSignal, 'SIGINT');
  assert.ok(pause?.repoTags.includes(PAUSE));
  assert.equal(await rt.inspectImage('dockerlet-test/not-here:0'), undefined);
  const list = await rt.listImages();
  assert.ok(list.some((i) => i.repoTags.includes(BUSYBOX) && i.id.startsWith('sha256:')));
});

test('stop delivers the image STOPSIGNAL first and reports the graceful exit code', async () => {
  const out = mkdtempSync(join(dir, 'usr1-'));
  chmodSync(out, 0o777);
  const id = await rt.createContainer(spec('usr1', {
    image: USR1_IMAGE, command: ['sh', '-c', trapScript(true)], mounts: [{ hostPath: out, containerPath: '/out', readOnly: false }],
  }));
  assert.equal(((await docker.getContainer(id).inspect()).Config as { StopSignal?: string }).StopSignal, 'SIGUSR1');
  await rt.startContainer(id);
  await waitForFile(join(out, 'ready'));
  await rt.stopContainer(id, 30);
  const c = await waitFor(id, ['exited']);
  assert.equal(readFileSync(join(out, 'signals'), 'utf8'), 'USR1\n');
  assert.equal(c.exitCode, 3);
  assert.equal(c.oomKilled, undefined);
});

test('without STOPSIGNAL stop sends SIGTERM', async () => {
  const out = mkdtempSync(join(dir, 'term-'));
  chmodSync(out, 0o777);
  const id = await rt.createContainer(spec('term', {
    command: ['sh', '-c', trapScript(true)], mounts: [{ hostPath: out, containerPath: '/out', readOnly: false }],
  }));
  await rt.startContainer(id);
  await waitForFile(join(out, 'ready'));
  await rt.stopContainer(id, 30);
  assert.equal(readFileSync(join(out, 'signals'), 'utf8'), 'TERM\n');
  assert.equal((await waitFor(id, ['exited'])).exitCode, 3);
});

test('a container that ignores its stop signal is SIGKILLed after the grace period', async () => {
  const out = mkdtempSync(join(dir, 'kill-'));
  chmodSync(out, 0o777);
  const id = await rt.createContainer(spec('kill', {
    image: USR1_IMAGE, command: ['sh', '-c', trapScript(false)], mounts: [{ hostPath: out, containerPath: '/out', readOnly: false }],
  }));
  await rt.startContainer(id);
  await waitForFile(join(out, 'ready'));
  await rt.stopContainer(id, 1);
  const c = await waitFor(id, ['exited']);
  assert.equal(c.exitCode, 137);
  assert.equal(readFileSync(join(out, 'signals'), 'utf8'), 'USR1\n');
  await rt.stopContainer(id, 1); // stopping a stopped container is fine
  await rt.removeContainer(id);
  await rt.stopContainer(id, 1); // and so is stopping a removed one
});

test('exit codes and times are reported', async () => {
  const ok = await runToExit('ok', { command: ['true'] });
  assert.equal(ok.exitCode, 0);
  const bad = await runToExit('bad', { command: ['sh', '-c', 'exit 42'] });
  assert.equal(bad.exitCode, 42);
  assert.ok(bad.startedAt && bad.finishedAt && Date.parse(bad.finishedAt) >= Date.parse(bad.startedAt));
});

test('OOM kill is reported as oomKilled with exit code 137', async () => {
  const c = await runToExit('oom', {
    command: ['sh', '-c', 'head -c 200m /dev/zero | tail'],
    resources: { memoryLimitBytes: 16 * 1024 * 1024 },
  });
  assert.equal(c.oomKilled, true);
  assert.equal(c.exitCode, 137);
});

test('a missing executable fails start with RUN_CONTAINER and Docker error text', async () => {
  const id = await rt.createContainer(spec('noexec', { command: ['/no/such/binary'] }));
  await assert.rejects(rt.startContainer(id), (err: Error) => {
    assert.ok(isCode(err, ErrorCodes.RUN_CONTAINER), String(err));
    assert.match(err.message, /no such file or directory|not found/i);
    return true;
  });
  const c = await observe(id);
  assert.ok(c && c.state !== 'running');
  assert.match(c.error ?? '', /no such file or directory|not found/i);
  await assert.rejects(rt.startContainer('0'.repeat(64)), (err: Error) => isCode(err, ErrorCodes.NOT_FOUND));
});

test('pulling from an unreachable registry fails fast with IMAGE_PULL', async () => {
  const progress: PullProgress[] = [];
  await assert.rejects(rt.pullImage('127.0.0.1:1/dockerlet-test/nonexistent:1', (p) => progress.push(p)), (err: Error) => {
    assert.ok(isCode(err, ErrorCodes.IMAGE_PULL), String(err));
    assert.match(err.message, /127\.0\.0\.1:1.*connection refused/);
    return true;
  });
});

test('an invalid image reference is INVALID_IMAGE_NAME', async () => {
  await assert.rejects(rt.pullImage('UPPER/Case:1'), (err: Error) => {
    assert.ok(isCode(err, ErrorCodes.INVALID_IMAGE_NAME), String(err));
    assert.match(err.message, /invalid reference format/);
    return true;
  });
});

test('host-network sandbox has no pod IP and uses the host UTS namespace', async () => {
  const id = await rt.runSandbox({
    identity: { podUid: `${RUN}-hostnet`, podName: 'hn', podNamespace: 'rt-test', containerName: 'POD', kind: 'sandbox', attempt: 0, restartCount: 0, specHash: 's' },
    image: PAUSE, hostname: 'ignored', hostNetwork: true, portBindings: [],
  });
  const c = await waitFor(id, ['running']);
  assert.equal(c.ip, undefined);
  const info = await docker.getContainer(id).inspect();
  assert.equal(info.HostConfig.NetworkMode, 'host');
  assert.equal(info.HostConfig.UTSMode, 'host');
  await rt.removeContainer(id);
});
