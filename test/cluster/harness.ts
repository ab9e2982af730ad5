// A real single-host Kubernetes control plane for integration tests: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler built from Go modules (scripts/build-control-plane.sh),
// with a test CA, Node+RBAC authorization and NodeRestriction admission.
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { component, silentLogger } from '../../lib/log.js';
import {
  apiserverArgs, controllerManagerArgs, createClusterPki, etcdArgs, etcdSupportsNoFsync, resolveBinDir, schedulerArgs,
  SERVICE_CIDR, type ClusterPki, type Ports,
} from './components.js';
import { defaultRouteIPv4, freePort, httpCall, waitFor, type HttpResult, type TlsClient } from './net.js';
import { issueCert, writeKubeconfig } from './pki.js';
import { ProcessSet } from './procs.js';

export interface ControlPlane {
  server: string;
  advertiseAddress: string;
  apiPort: number;
  dir: string;
  adminKubeconfigPath: string;
  caCertPath: string;
  caCertPem: string;
  serviceCidr: string;
  /** Node client credentials; opts.server replaces the server URL in the kubeconfig (e.g. the LAN address of the multi-node bed). */
  mintNodeCredentials(nodeName: string, opts?: { server?: string }): Promise<{ kubeconfigPath: string; certPath: string; keyPath: string }>;
  mintUserKubeconfig(user: string, groups: string[]): Promise<string>;
  /** Stops kube-apiserver (etcd, controller-manager and scheduler keep running): an API server outage. */
  stopApiserver(): Promise<void>;
  /** Starts kube-apiserver again on the same port and waits for /readyz. */
  startApiserver(opts?: { timeoutMs?: number }): Promise<void>;
  logTail(lines?: number): string;
  /** pids of the component processes still running. */
  pids(): number[];
  /** Milliseconds from startControlPlane() to each readiness milestone. */
  timings: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

export interface StartOptions {
  binDir?: string;
  /** Work dir to use (kept on stop); default a fresh temp dir (removed on stop unless DOCKERLET_KEEP_CLUSTER=1). */
  dir?: string;
  signal?: AbortSignal;
  apiPort?: number;
  /** Log progress through pino (component 'controlplane'). */
  log?: boolean;
  /** Bound on the whole start-up; default 120 s. */
  timeoutMs?: number;
  /**
   * The apiserver's --advertise-address (also in its serving certificate); default the default-route
   * interface's address. The multi-node bed passes its LAN address, so nodes in other network namespaces
   * reach the apiserver (and the kubernetes Service) there.
   */
  advertiseAddress?: string;
  /** Extra kube-controller-manager flags (later flags win), e.g. ['--node-monitor-grace-period=20s']. */
  controllerManagerArgs?: string[];
  /**
   * Each component in a session of its own (setsid), so the scheduler's autogroups treat it as its own
   * task group (bench/pod-startup lowers their CPU priority); default: this process's session.
   */
  ownSessions?: boolean;
}

const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlane> {
  const t0 = Date.now();
  const log = opts.log ? component('controlplane') : silentLogger();
  const binDir = resolveBinDir(opts.binDir);
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'dockerlet-cp-')));
  const sub = (name: string) => join(dir, name);
  await Promise.all(['pki', 'logs', 'data', 'kubeconfigs'].map((d) => mkdir(sub(d), { recursive: true })));
  const procs = new ProcessSet({ ownSessions: opts.ownSessions ?? false });
  const timings: Record<string, number> = {};
  const mark = (what: string) => {
    timings[what] = Date.now() - t0;
    log.info({ dir, ms: timings[what] }, `${what}`);
  };
  const keep = process.env.DOCKERLET_KEEP_CLUSTER === '1';
  if (ownDir && !keep) procs.exitCleanup = () => rmSync(dir, { recursive: true, force: true });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await procs.stopAll([['kube-scheduler', 'kube-controller-manager'], ['kube-apiserver'], ['etcd']]);
      if (ownDir && !keep) await rm(dir, { recursive: true, force: true });
      log.info({ dir, kept: keep || !ownDir }, 'control plane stopped');
    })();
    return stopped;
  };

  try {
    const advertise = opts.advertiseAddress ?? defaultRouteIPv4();
    const apiPort = opts.apiPort ?? (await freePort('0.0.0.0'));
    const ports: Ports = {
      etcdClient: await freePort(),
      etcdPeer: await freePort(),
      api: apiPort,
      kcm: await freePort(),
      scheduler: await freePort(),
    };
    const server = `https://127.0.0.1:${apiPort}`;
    const [pki, noFsync] = await Promise.all([
      createClusterPki(sub('pki'), sub('kubeconfigs'), server, advertise),
      etcdSupportsNoFsync(join(binDir, 'etcd')),
    ]);
    mark('pki');
    const admin: TlsClient = { ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem };
    const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
    const wait = (what: string, check: () => Promise<boolean>) =>
      waitFor(what, check, { deadline, signal: opts.signal, abortIf: () => procs.deadReason() });
    const start = (name: string, args: string[]) => procs.spawn(name, join(binDir, name), args, join(dir, 'logs', `${name}.log`));

    start('etcd', etcdArgs(ports, join(dir, 'data', 'etcd'), noFsync));
    await wait('etcd /health', async () => {
      const r = await httpCall(`http://127.0.0.1:${ports.etcdClient}/health`);
      return expect(r.status === 200 && r.body.includes('"health":"true"'), r);
    });
    mark('etcd');

    start('kube-apiserver', apiserverArgs(ports, pki, advertise));
    await wait('kube-apiserver /readyz', async () => {
      const r = await httpCall(`${server}/readyz?verbose`, { tls: admin });
      return expect(r.status === 200, r);
    });
    mark('kube-apiserver');
    await wait('clusterrolebinding kube-apiserver-kubelet-admin', () => bind(server, admin, 'kube-apiserver-kubelet-admin', 'system:kubelet-api-admin', { kind: 'User', name: 'kube-apiserver' }));
    // dockerlet's proxy half runs with the node's credentials, which need kube-proxy's role to list
    // EndpointSlices (README: the one grant a cluster running dockerlet needs).
    await wait('clusterrolebinding dockerlet-node-proxier', () => bind(server, admin, 'dockerlet-node-proxier', 'system:node-proxier', { kind: 'Group', name: 'system:nodes' }));

    start('kube-controller-manager', [...controllerManagerArgs(ports, pki), ...(opts.controllerManagerArgs ?? [])]);
    start('kube-scheduler', schedulerArgs(ports, pki));
    const healthz = (port: number) => async () => {
      const r = await httpCall(`https://127.0.0.1:${port}/healthz`, { tls: { insecure: true } });
      return expect(r.status === 200 && r.body.trim() === 'ok', r);
    };
    await Promise.all([
      wait('kube-controller-manager /healthz', healthz(ports.kcm)).then(() => mark('kube-controller-manager')),
      wait('kube-scheduler /healthz', healthz(ports.scheduler)).then(() => mark('kube-scheduler')),
      wait('ServiceAccount default/default', async () => {
        const r = await httpCall(`${server}/api/v1/namespaces/default/serviceaccounts/default`, { tls: admin });
        return expect(r.status === 200, r);
      }).then(() => mark('default-serviceaccount')),
    ]);
    mark('ready');

    const apiserverReady = async (timeoutMs = 60_000) => {
      await waitFor('kube-apiserver /readyz after restart', async () => {
        const r = await httpCall(`${server}/readyz?verbose`, { tls: admin });
        return expect(r.status === 200, r);
      }, { deadline: Date.now() + timeoutMs, abortIf: () => procs.deadReason() });
    };
    const cp = makeControlPlane({ server, advertise, apiPort, dir, pki, procs, timings, stop, apiserverReady });
    opts.signal?.addEventListener('abort', () => void stop(), { once: true });
    return cp;
  } catch (err) {
    const tail = procs.tail(30);
    await procs.stopAll([], 3_000).catch(() => undefined);
    if (ownDir && !keep) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw new DockerletError(ErrorCodes.CONTROL_PLANE, `control plane did not come up: ${errorMessage(err)}\n${tail}`, {
      cause: err,
      details: { dir, binDir, kept: keep || !ownDir },
    });
  }
}

/** true when ok; otherwise throws with the response, so a timeout reports what the endpoint last said. */
function expect(ok: boolean, r: HttpResult): boolean {
  if (ok) return true;
  const failing = r.body.split('\n').filter((l) => l.startsWith('[-]'));
  throw new Error(`HTTP ${r.status}: ${(failing.length > 0 ? failing.join('; ') : r.body).slice(0, 400)}`);
}

async function bind(server: string, admin: TlsClient, name: string, role: string, subject: { kind: 'User' | 'Group'; name: string }): Promise<boolean> {
  const r = await httpCall(`${server}/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`, {
    method: 'POST',
    tls: admin,
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', ...subject }],
    },
  });
  if (r.status === 201 || r.status === 409) return true;
  throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 300)}`);
}

function makeControlPlane(p: {
  server: string;
  advertise: string;
  apiPort: number;
  dir: string;
  pki: ClusterPki;
  procs: ProcessSet;
  timings: Record<string, number>;
  stop: () => Promise<void>;
  apiserverReady: (timeoutMs?: number) => Promise<void>;
}): ControlPlane {
  const nodesDir = join(p.pki.dir, 'nodes');
  const usersDir = join(p.pki.dir, 'users');
  let userSeq = 0;
  return {
    server: p.server,
    advertiseAddress: p.advertise,
    apiPort: p.apiPort,
    dir: p.dir,
    adminKubeconfigPath: p.pki.adminKubeconfig,
    caCertPath: p.pki.ca.certPath,
    caCertPem: p.pki.ca.certPem,
    serviceCidr: SERVICE_CIDR,
    timings: p.timings,
    async mintNodeCredentials(nodeName, o = {}) {
      if (!NODE_NAME.test(nodeName)) {
        throw new DockerletError(ErrorCodes.CONTROL_PLANE, `invalid node name ${JSON.stringify(nodeName)}`);
      }
      const user = `system:node:${nodeName}`;
      const cert = await issueCert(p.pki.ca, nodesDir, { name: nodeName, commonName: user, organizations: ['system:nodes'], usage: 'client' });
      const kubeconfigPath = join(p.dir, 'kubeconfigs', `node-${nodeName}.kubeconfig`);
      await writeKubeconfig(kubeconfigPath, { server: o.server ?? p.server, caPem: p.pki.ca.certPem, cert, user });
      return { kubeconfigPath, certPath: cert.certPath, keyPath: cert.keyPath };
    },
    async mintUserKubeconfig(user, groups) {
      const stem = `${user.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60)}-${++userSeq}`;
      const cert = await issueCert(p.pki.ca, usersDir, { name: stem, commonName: user, organizations: groups, usage: 'client' });
      return writeKubeconfig(join(p.dir, 'kubeconfigs', `user-${stem}.kubeconfig`), { server: p.server, caPem: p.pki.ca.certPem, cert, user });
    },
    async stopApiserver() {
      await p.procs.stop('kube-apiserver');
    },
    async startApiserver(o = {}) {
      p.procs.start('kube-apiserver');
      await p.apiserverReady(o.timeoutMs);
    },
    logTail: (lines = 40) => p.procs.tail(lines),
    pids: () => p.procs.pids(),
    stop: p.stop,
  };
}
