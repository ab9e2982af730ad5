// Test beds for the streaming endpoints.
// - startKubelet(): a kubelet API server on this host (fastify over TLS + the streaming plugin + the
//   real request gate and PodLookup) and a pod running on Docker through the real DockerRuntime.
// - startBed(): that, plus a real control plane (test/cluster/harness.ts) with a Node object whose
//   kubelet endpoint is this server, the pod bound to it, and kubectl pointed at the apiserver:
//   kubectl → apiserver → (SPDY) → this server → Docker, as in a cluster.
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

export interface Kubelet {
  namespace: string;
  pod: string;
  podUid: string;
  nodeName: string;
  port: number;
  sandboxId: string;
  appId: string;
  ttyId: string;
  docker: Dockerode;
  app: FastifyInstance;
  /** A client certificate the server accepts (CN kube-apiserver) and one from another CA. */
  client: { cert: string; key: string };
  foreignClient: { cert: string; key: string };
  stop(): Promise<void>;
}

export interface Bed extends Kubelet {
  cp: ControlPlane;
  kubectl(args: string[], opts?: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number }): Promise<KubectlResult>;
  /** A long-running kubectl (port-forward); killed by stop() if still running. */
  spawnKubectl(args: string[], env?: Record<string, string>): ChildProcess;
}

export interface KubeletOptions {
  /** The CA client certificates are verified against (default: a CA of the bed's own). */
  clientCaPem?: string;
  namespace?: string;
  nodeName?: string;
  /** Set once the pod exists in the apiserver (its uid labels the containers). */
  podUid?: string;
}

export async function startKubelet(opts: KubeletOptions = {}): Promise<Kubelet> {
  const run = `st${randomBytes(3).toString('hex')}`;
  const namespace = opts.namespace ?? `streaming-${run}`;
  const nodeName = opts.nodeName ?? `streaming-node-${run}`;
  const pod = 'web';
  const podUid = opts.podUid ?? `${run}-0000-4000-8000-000000000000`;
  const dir = await mkdtemp(join(tmpdir(), 'dkl-streaming-'));
  const pki = join(dir, 'pki');
  const [servingCa, clientCa, foreignCa] = await Promise.all([
    createCa(pki, 'streaming-test-serving-ca', 'serving-ca'),
    createCa(pki, 'streaming-test-client-ca', 'client-ca'),
    createCa(pki, 'streaming-test-foreign-ca', 'foreign-ca'),
  ]);
  const [serving, client, foreign] = await Promise.all([
    issueCert(servingCa, pki, { name: 'kubelet', commonName: nodeName, usage: 'server', sans: ['127.0.0.1', 'localhost'] }),
    issueCert(clientCa, pki, { name: 'client', commonName: 'kube-apiserver', usage: 'client' }),
    issueCert(foreignCa, pki, { name: 'foreign', commonName: 'kube-apiserver', usage: 'client' }),
  ]);
  const port = await freePort();
  const docker = new Dockerode();
  const rt = new DockerRuntime({ log: silentLogger(), nodeName });
  const lookup = new DockerPodLookup({ listContainers: async () => (await rt.listManaged()).filter((c) => c.podUid === podUid) });
  const gate = new Gate({ nodeName, x509: true, webhook: false, anonymous: false, authorization: 'AlwaysAllow' });
  const log = process.env.STREAMING_TEST_LOG ? createLogger({ level: process.env.STREAMING_TEST_LOG }) : silentLogger();
  const ca = [clientCa.certPem, ...(opts.clientCaPem ? [opts.clientCaPem] : [])];
  const app = Fastify({ https: { key: serving.keyPem, cert: serving.certPem, ca, requestCert: true, rejectUnauthorized: false } });
  await app.register(async (scope) => createStreamingPlugin({ streams: new DockerContainerStreams(docker) })(scope, { gate: gate.check, lookup, log }));
  await app.listen({ host: '127.0.0.1', port });

  const ident = (containerName: string, kind: ContainerIdentity['kind']): ContainerIdentity => ({
    podUid, podName: pod, podNamespace: namespace, containerName, kind, attempt: kind === 'sandbox' ? 1 : 0, restartCount: 0, specHash: containerName,
  });
  const sandboxId = await rt.runSandbox({ identity: ident('POD', 'sandbox'), image: PAUSE, hostname: pod, hostNetwork: false, portBindings: [] });
  const base = { sandboxId, image: BUSYBOX, env: [], mounts: [], resources: {}, annotations: {} };
  // app: a loopback-only HTTP server inside the pod (port-forward must reach 127.0.0.1 in the pod).
  const appId = await rt.createContainer({
    ...base, identity: ident('app', 'container'),
    command: ['sh', '-c', 'mkdir -p /www && echo hello-from-pod > /www/index.html && httpd -p 127.0.0.1:8080 -h /www && exec sleep 100000'],
  });
  await rt.startContainer(appId);
  const ttyId = await rt.createContainer({ ...base, identity: ident('tty', 'container'), command: ['sh'], tty: true, stdin: true });
  await rt.startContainer(ttyId);

  const stop = async () => {
    await app.close().catch(() => {});
    const all = await docker.listContainers({ all: true, filters: { label: [`io.kubernetes.pod.uid=${podUid}`] } }).catch(() => []);
    for (const c of all) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  return {
    namespace, pod, podUid, nodeName, port, sandboxId, appId, ttyId, docker, app, stop,
    client: { cert: client.certPem, key: client.keyPem },
    foreignClient: { cert: foreign.certPem, key: foreign.keyPem },
  };
}

export async function startBed(): Promise<Bed> {
  const cp = await startControlPlane();
  const children = new Set<ChildProcess>();
  const kubectl: Bed['kubectl'] = (args, opts = {}) =>
    new Promise((resolve) => {
      const child = spawn('kubectl', ['--kubeconfig', cp.adminKubeconfigPath, ...args], { env: { ...process.env, ...(opts.env ?? {}) }, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
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
  try {
    const run = randomBytes(3).toString('hex');
    const namespace = `streaming-${run}`;
    const nodeName = `streaming-node-${run}`;
    await must(['create', 'namespace', namespace]);
    await must(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName } }));
    const spec = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace },
      spec: {
        nodeName, tolerations: [{ operator: 'Exists' }],
        containers: [{ name: 'app', image: BUSYBOX, command: ['sh', '-c', 'sleep 100000'] }, { name: 'tty', image: BUSYBOX, command: ['sh'], tty: true, stdin: true }],
      },
    };
    await must(['create', '-f', '-'], JSON.stringify(spec));
    const podUid = (await must(['get', 'pod', '-n', namespace, 'web', '-o', 'jsonpath={.metadata.uid}'])).trim();
    const kubelet = await startKubelet({ clientCaPem: cp.caCertPem, namespace, nodeName, podUid });
    // The apiserver reaches the kubelet at the node's InternalIP and daemonEndpoints port.
    await must([
      'patch', 'node', nodeName, '--subresource=status', '--type=merge', '-p',
      JSON.stringify({ status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: kubelet.port } } } }),
    ]);
    const now = new Date().toISOString();
    await must([
      'patch', 'pod', '-n', namespace, 'web', '--subresource=status', '--type=merge', '-p',
      JSON.stringify({ status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } }),
    ]);
    const stop = async () => {
      for (const c of children) c.kill('SIGKILL');
      await kubelet.stop();
      await cp.stop();
    };
    return { ...kubelet, cp, kubectl, spawnKubectl, stop };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}
