// A one-shot log read right after a container started (what a client does as soon as it sees Running:
// the conformance spec "Pods should support retrieving logs from the container over websockets" reads
// once after CreateSync) gets the container's first output, even when the process prints it a moment
// (0.3 s, 1.5 s) after Docker reported it started; a container that prints nothing reads empty; a
// follow read streams everything.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import Dockerode from 'dockerode';
import { DockerLogs } from '../../../runtime/docker/logs.js';

const docker = new Dockerode();
const NAME = `dockerlet-logs-first-${randomBytes(3).toString('hex')}`;
const ids: string[] = [];

after(async () => {
  for (const id of ids) await docker.getContainer(id).remove({ force: true }).catch(() => {});
});

async function start(name: string, script: string): Promise<string> {
  const c = await docker.createContainer({ name, Image: 'dockerlet/busybox:1.36', Cmd: ['sh', '-c', script], Labels: { 'dockerlet.test': NAME } });
  ids.push(c.id);
  await c.start();
  return c.id;
}

async function readAll(logs: DockerLogs, id: string, follow = false): Promise<string> {
  const { stream } = await logs.open(id, { follow });
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

test('a read right after the start sees the first line printed 0.3 s later', async () => {
  const logs = new DockerLogs({ docker });
  const id = await start(`${NAME}-a`, 'sleep 0.3; echo container is alive; exec sleep 100');
  assert.equal(await readAll(logs, id), 'container is alive\n');
});

test('a read right after the start of a container that prints after 1.5 s, or never: its line, or an empty log', async () => {
  const logs = new DockerLogs({ docker });
  const late = await start(`${NAME}-c`, 'sleep 1.5; echo late line; exec sleep 100');
  assert.equal(await readAll(logs, late), 'late line\n');
  const mute = await start(`${NAME}-d`, 'exec sleep 100');
  assert.equal(await readAll(logs, mute), '');
  const chatty = await start(`${NAME}-e`, 'for i in 1 2 3; do echo line $i; done; exec sleep 100');
  assert.match(await readAll(logs, chatty), /^line 1\n/, 'output already there is read at once, from the start');
});

test('a follow read streams from the start and ends with the container', async () => {
  const logs = new DockerLogs({ docker });
  const id = await start(`${NAME}-b`, 'echo one; sleep 0.2; echo two');
  assert.equal(await readAll(logs, id, true), 'one\ntwo\n');
});
