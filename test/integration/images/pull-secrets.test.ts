// Image pulls against a real registry with htpasswd auth on loopback (Debian's docker-registry,
// distribution v2) through real Docker: no credential → ErrImagePull; the pod's imagePullSecrets
// (kubernetes.io/dockerconfigjson) → pulled; a present image → "already present on machine"; the node's
// docker config.json → pulled; a wrong secret before a right one → the right one is tried next.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import type { Container, Pod, Secret } from '../../../kube/api.js';
import { systemClock } from '../../../lib/clock.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';
import { readNodeCredentials } from '../../../agent/images/keyring.js';
import { ImageManager } from '../../../agent/pods/images.js';
import { pullImage } from '../../../runtime/docker/images.js';
import { DockerRuntime } from '../../../runtime/docker/runtime.js';
import type { ContainerRuntime } from '../../../runtime/types.js';
import { freePort } from '../../cluster/net.js';

const BUSYBOX = 'dockerlet/busybox:1.36';
const RUN = randomBytes(3).toString('hex');
const USER = 'probes';
const PASS = randomBytes(9).toString('base64url');
const docker = new Dockerode();
const haveRegistry = spawnSync('sh', ['-c', 'command -v docker-registry && command -v htpasswd']).status === 0;
let dir = '';
let registry: ChildProcess | undefined;
let addr = '';
let image = '';

/** DockerRuntime, with the registry credential passed to the pull (runtime.ts forwards it once runtime/types.ts has the parameter). */
function runtime(): ContainerRuntime {
  const rt = new DockerRuntime({ log: silentLogger() });
  return Object.assign(Object.create(rt) as ContainerRuntime, {
    pullImage: (ref: string, onProgress?: never, signal?: AbortSignal, auth?: Parameters<typeof pullImage>[4]) => pullImage(docker, ref, onProgress, signal, auth),
    inspectImage: (ref: string) => rt.inspectImage(ref),
  });
}

function dockerConfig(user: string, pass: string): string {
  return JSON.stringify({ auths: { [`http://${addr}`]: { auth: Buffer.from(`${user}:${pass}`).toString('base64') } } });
}

function secret(name: string, user: string, pass: string): Secret {
  return { metadata: { name, namespace: 'img' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from(dockerConfig(user, pass)).toString('base64') } };
}

async function removeLocal(): Promise<void> {
  await docker.getImage(image).remove({ force: true }).catch(() => {});
}

async function follow(stream: NodeJS.ReadableStream): Promise<void> {
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
    const failed = out?.find((o) => o.error);
    if (err || failed) reject(err ?? new Error(failed?.error));
    else resolve();
  }));
}

before(async () => {
  if (!haveRegistry) return;
  dir = await mkdtemp(join(tmpdir(), 'dockerlet-images-'));
  const port = await freePort();
  addr = `127.0.0.1:${port}`;
  image = `${addr}/private-${RUN}/busybox:1`;
  const hash = spawnSync('htpasswd', ['-Bbn', USER, PASS], { encoding: 'utf8' });
  assert.equal(hash.status, 0, hash.stderr);
  await writeFile(join(dir, 'htpasswd'), hash.stdout);
  await writeFile(join(dir, 'config.yml'), [
    'version: 0.1', 'log: {level: warn, accesslog: {disabled: true}}', `storage: {filesystem: {rootdirectory: ${dir}/data}}`,
    `http: {addr: '${addr}'}`, `auth: {htpasswd: {realm: dockerlet-test, path: ${dir}/htpasswd}}`, '',
  ].join('\n'));
  registry = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const code = await fetch(`http://${addr}/v2/`).then((r) => r.status, () => 0);
    if (code === 401) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await docker.getImage(BUSYBOX).tag({ repo: `${addr}/private-${RUN}/busybox`, tag: '1' });
  await follow(await docker.getImage(image).push({ authconfig: { username: USER, password: PASS, serveraddress: addr } }) as NodeJS.ReadableStream);
  await removeLocal();
});

after(async () => {
  if (!haveRegistry) return;
  await removeLocal();
  registry?.kill();
  await rm(dir, { recursive: true, force: true });
});

function podWith(secrets: string[]): Pod {
  const c: Container = { name: 'app', image, imagePullPolicy: 'IfNotPresent' };
  return { metadata: { name: 'p', namespace: 'img', uid: `u-${RUN}` }, spec: { containers: [c], imagePullSecrets: secrets.map((name) => ({ name })) } as Pod['spec'] };
}

test('pulls from an authenticated registry: refused without credentials, pulled with the pod\'s pull secret, then already present', { skip: !haveRegistry && 'docker-registry/htpasswd not installed' }, async () => {
  const secrets = new Map([['good', secret('good', USER, PASS)], ['bad', secret('bad', USER, 'wrong')]]);
  const events: string[] = [];
  const emit = (type: string, reason: string, message: string) => events.push(`${type} ${reason}: ${message}`);
  const mgr = new ImageManager(runtime(), systemClock, silentLogger(), { secret: async (_ns, name) => secrets.get(name) });
  const pod = podWith([]);
  await assert.rejects(mgr.ensure(`a/${RUN}`, pod.spec.containers[0]!, emit, undefined, pod), (err) => isCode(err, ErrorCodes.IMAGE_PULL) && /no basic auth credentials|unauthorized|authentication required/i.test((err as Error).message));

  const withSecrets = podWith(['missing', 'bad', 'good']);
  events.length = 0;
  const info = await mgr.ensure(`b/${RUN}`, withSecrets.spec.containers[0]!, emit, undefined, withSecrets);
  assert.match(info.id, /^sha256:/);
  assert.ok(events.includes('Warning FailedToRetrieveImagePullSecret: Unable to retrieve some image pull secrets (img/missing); attempting to pull the image may not succeed.'), events.join('\n'));
  assert.ok(events.some((e) => e.startsWith(`Normal Pulled: Successfully pulled image "${image}" in `)), events.join('\n'));

  events.length = 0;
  await mgr.ensure(`b/${RUN}`, withSecrets.spec.containers[0]!, emit, undefined, withSecrets);
  assert.deepEqual(events, [`Normal Pulled: Container image "${image}" already present on machine`]);
});

test('pulls with the node\'s docker config.json when the pod has no pull secret', { skip: !haveRegistry && 'docker-registry/htpasswd not installed' }, async () => {
  await removeLocal();
  const configPath = join(dir, 'config.json');
  await writeFile(configPath, dockerConfig(USER, PASS), { mode: 0o600 });
  const mgr = new ImageManager(runtime(), systemClock, silentLogger(), { nodeCredentials: () => readNodeCredentials([join(dir, 'absent.json'), configPath]) });
  const pod = podWith([]);
  const info = await mgr.ensure(`c/${RUN}`, pod.spec.containers[0]!, () => {}, undefined, pod);
  assert.match(info.id, /^sha256:/);
  assert.ok(await docker.getImage(image).inspect());
});
