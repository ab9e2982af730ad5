// Test bed for the streaming endpoints: a real control plane (test/cluster/harness.ts), a Node object
// whose kubelet endpoint is a kubelet API server on this host (fastify over TLS + the streaming plugin
// + the real request gate and PodLookup), a pod bound to that node whose containers run on Docker
// through the real DockerRuntime, and kubectl pointed at the apiserver. kubectl → apiserver → (SPDY)
// → this server → Docker, as in a cluster.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import Fastify, { type FastifyInstance } from 'fastify';
import { Gate } from '../../../agent/server/gate.js';
import { DockerPodLookup } from '../../../agent/server/lookup.js';
import { createStreamingPlugin } from '../../../agent/server/streaming/index.js';
import { createLogger, silentLogger } from '../../../lib/log.js';
import { DockerRuntime } from '../../../runtime/docker/runtime.js';
import { DockerContainerStreams } from '../../../runtime/docker/streams.js';
import type { ContainerIdentity } from '../../../runtime/types.js';
import { startControlPlane, type ControlPlane } from '../../cluster/harness.js';
import { freePort } from '../../cluster/net.js';
import { createCa, issueCert } from '../../cluster/pki.js';

export const PAUSE = 'registry.k8s.io/pause:3.10';
export const BUSYBOX = 'dockerlet/busybox:1.36';

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Bed {
  cp: ControlPlane;
  namespace: string;
  pod: string;
  podUid: string;
  nodeName: string;
  kubeletPort: number;
  sandboxId: string;
  appId: string;
  ttyId: string;
  docker: Dockerode;
  app: FastifyInstance;
  kubectl(args: string[], opts?: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number }): Promise<KubectlResult>;
  /** A long-running kubectl (port-forward); killed by stop() if still running. */
  spawnKubectl(args: string[], env?: Record<string, string>): ChildProcess;
  stop(): Promise<void>;
}

export async function startBed(): Promise<Bed> {
  const run = `st${randomBytes(3).toString('hex')}`;
  const namespace = `streaming-${run}`;
  const nodeName = `streaming-node-${run}`;
  const pod = 'web';
  const dir = await mkdtemp(join(tmpdir(), 'dkl-streaming-'));
  const cp = await startControlPlane();
  const children = new Set<ChildProcess>();
  const kubectl: Bed['kubectl'] = (args, opts = {}) =>
    new Promise((resolve) => {
      const child = spawn('kubectl', ['--kubeconfig', cp.adminKubeconfigPath, ...args], {
        env: { ...process.env, ...(opts.env ?? {}) },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
      child.stdin.on('error', () => {});
      if (opts.input !== undefined) child.stdin.end(opts.input);
      else child.stdin.end();
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
    });
  const spawnKubectl = (args: string[], env: Record<string, string> = {}) => {
    const child = spawn('kubectl', ['--kubeconfig', cp.adminKubeconfigPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  const must = async (args: string[], input?: string) => {
    const r = await kubectl(args, input !== undefined ? { input } : {});
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };

  // The kubelet API server: TLS with a serving cert of its own CA; client certs verified against the
  // cluster CA (the apiserver's kube-apiserver-kubelet-client), authorization AlwaysAllow.
  const servingCa = await createCa(join(dir, 'pki'), 'streaming-test-serving-ca', 'serving-ca');
  const serving = await issueCert(servingCa, join(dir, 'pki'), { name: 'kubelet', commonName: nodeName, usage: 'server', sans: ['127.0.0.1', 'localhost'] });
  const kubeletPort = await freePort();
  const docker = new Dockerode();
  const rt = new DockerRuntime({ log: silentLogger(), nodeName });
  let podUid = '';
  const lookup = new DockerPodLookup({ listContainers: async () => (await rt.listManaged()).filter((c) => c.podUid === podUid) });
  const gate = new Gate({ nodeName, x509: true, webhook: false, anonymous: false, authorization: 'AlwaysAllow' });
  const app = Fastify({ https: { key: serving.keyPem, cert: serving.certPem, ca: cp.caCertPem, requestCert: true, rejectUnauthorized: false } });
  await app.register(async (scope) => createStreamingPlugin({ streams: new DockerContainerStreams(docker) })(scope, { gate: gate.check, lookup, log: process.env.STREAMING_TEST_LOG ? createLogger({ level: process.env.STREAMING_TEST_LOG }) : silentLogger() }));
  await app.listen({ host: '127.0.0.1', port: kubeletPort });

  await must(['create', 'namespace', namespace]);
  await must(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName } }));
  await must([
    'patch', 'node', nodeName, '--subresource=status', '--type=merge', '-p',
    JSON.stringify({ status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } } } }),
  ]);
  const podSpec = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace },
    spec: {
      nodeName,
      tolerations: [{ operator: 'Exists' }],
      containers: [
        { name: 'app', image: BUSYBOX, command: ['sh', '-c', 'sleep 100000'] },
        { name: 'tty', image: BUSYBOX, command: ['sh'], tty: true, stdin: true },
      ],
    },
  };
  await must(['create', '-f', '-'], JSON.stringify(podSpec));
  podUid = (await must(['get', 'pod', '-n', namespace, pod, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const ident = (containerName: string, kind: ContainerIdentity['kind']): ContainerIdentity => ({
    podUid, podName: pod, podNamespace: namespace, containerName, kind, attempt: kind === 'sandbox' ? 1 : 0, restartCount: 0, specHash: containerName,
  });
  const sandboxId = await rt.runSandbox({ identity: ident('POD', 'sandbox'), image: PAUSE, hostname: pod, hostNetwork: false, portBindings: [] });
  const base = { sandboxId, image: BUSYBOX, env: [], mounts: [], resources: {}, annotations: {} };
  // app: a loopback-only HTTP server inside the pod (port-forward must reach 127.0.0.1 in the pod), a
  // raw TCP echo-ish sink on 9000 (nc), and a long sleep.
  const appId = await rt.createContainer({
    ...base, identity: ident('app', 'container'),
    command: ['sh', '-c', 'mkdir -p /www && echo hello-from-pod > /www/index.html && httpd -p 127.0.0.1:8080 -h /www && exec sleep 100000'],
  });
  await rt.startContainer(appId);
  const ttyId = await rt.createContainer({ ...base, identity: ident('tty', 'container'), command: ['sh'], tty: true, stdin: true });
  await rt.startContainer(ttyId);
  const now = new Date().toISOString();
  await must([
    'patch', 'pod', '-n', namespace, pod, '--subresource=status', '--type=merge', '-p',
    JSON.stringify({ status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }], containerStatuses: [] } }),
  ]);

  const stop = async () => {
    for (const c of children) c.kill('SIGKILL');
    await app.close().catch(() => {});
    const all = await docker.listContainers({ all: true, filters: { label: [`io.kubernetes.pod.uid=${podUid}`] } }).catch(() => []);
    for (const c of all) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  };
  return { cp, namespace, pod, podUid, nodeName, kubeletPort, sandboxId, appId, ttyId, docker, app, kubectl, spawnKubectl, stop };
}
