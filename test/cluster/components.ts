// What the four control-plane components need: the binaries, the PKI and kubeconfigs, and each
// component's command-line flags. Pure data preparation; harness.ts starts and supervises them.
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { createCa, createSigningKeyPair, issueCert, writeKubeconfig, type Ca, type IssuedCert } from './pki.js';

export const SERVICE_CIDR = '10.96.0.0/16';
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function goModVersion(file: string, module: string): string {
  const text = readFileSync(join(repoRoot, file), 'utf8');
  const m = new RegExp(`^require\\s+${module.replace(/[.]/g, '\\.')}\\s+(v\\S+)`, 'm').exec(text);
  if (!m?.[1]) throw new DockerletError(ErrorCodes.CONTROL_PLANE, `cannot read the ${module} version from ${file}`);
  return m[1];
}

/** The bin dir: explicit, else $DOCKERLET_CONTROL_PLANE_DIR, else the cache path scripts/build-control-plane.sh uses. */
export function resolveBinDir(explicit?: string): string {
  const dir =
    explicit ??
    process.env.DOCKERLET_CONTROL_PLANE_DIR ??
    join(
      process.env.DOCKERLET_CACHE ?? '/var/cache/dockerlet',
      'controlplane',
      `k8s-${goModVersion('test/cluster/k8s/go.mod', 'k8s.io/kubernetes')}-etcd-${goModVersion('test/cluster/etcd/go.mod', 'go.etcd.io/etcd/server/v3')}`,
    );
  const missing = BINARIES.filter((b) => {
    try {
      accessSync(join(dir, b), constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    throw new DockerletError(
      ErrorCodes.CONTROL_PLANE,
      `control-plane binaries missing in ${dir}: ${missing.join(', ')} (run: bash scripts/build-control-plane.sh)`,
      { details: { dir, missing } },
    );
  }
  return dir;
}

const etcdFlagCache = new Map<string, Promise<boolean>>();

/** Whether this etcd binary knows --unsafe-no-fsync (etcd >= 3.5). */
export function etcdSupportsNoFsync(etcdBin: string): Promise<boolean> {
  let p = etcdFlagCache.get(etcdBin);
  if (!p) {
    p = promisify(execFile)(etcdBin, ['--help'], { timeout: 15_000, maxBuffer: 4 << 20 })
      .then(({ stdout, stderr }) => `${stdout}${stderr}`.includes('--unsafe-no-fsync'))
      .catch((err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`.includes('--unsafe-no-fsync'));
    etcdFlagCache.set(etcdBin, p);
  }
  return p;
}

export interface Ports {
  etcdClient: number;
  etcdPeer: number;
  api: number;
  kcm: number;
  scheduler: number;
}

export interface ClusterPki {
  dir: string;
  ca: Ca;
  frontProxyCa: Ca;
  frontProxyClient: IssuedCert;
  apiserver: IssuedCert;
  kubeletClient: IssuedCert;
  admin: IssuedCert;
  sa: { keyPath: string; pubPath: string };
  adminKubeconfig: string;
  kcmKubeconfig: string;
  schedulerKubeconfig: string;
}

/** Creates the CA, serving/client certs, the SA key pair and the component kubeconfigs. */
export async function createClusterPki(pkiDir: string, kubeconfigDir: string, server: string, advertise: string): Promise<ClusterPki> {
  const [ca, frontProxyCa] = await Promise.all([
    createCa(pkiDir),
    createCa(pkiDir, 'dockerlet-test-front-proxy-ca', 'front-proxy-ca'),
  ]);
  const sans = [
    '127.0.0.1', 'localhost', advertise, KUBERNETES_SERVICE_IP,
    'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local',
  ];
  const [apiserver, kubeletClient, admin, kcm, scheduler, sa, frontProxyClient] = await Promise.all([
    issueCert(ca, pkiDir, { name: 'apiserver', commonName: 'kube-apiserver', sans, usage: 'server' }),
    issueCert(ca, pkiDir, { name: 'apiserver-kubelet-client', commonName: 'kube-apiserver', usage: 'client' }),
    issueCert(ca, pkiDir, { name: 'admin', commonName: 'admin', organizations: ['system:masters'], usage: 'client' }),
    issueCert(ca, pkiDir, { name: 'kube-controller-manager', commonName: 'system:kube-controller-manager', usage: 'client' }),
    issueCert(ca, pkiDir, { name: 'kube-scheduler', commonName: 'system:kube-scheduler', usage: 'client' }),
    createSigningKeyPair(pkiDir, 'sa'),
    // Request-header (aggregation) client: lets KCM/scheduler delegated authn find a requestheader CA.
    issueCert(frontProxyCa, pkiDir, { name: 'front-proxy-client', commonName: 'front-proxy-client', usage: 'client' }),
  ]);
  const kc = (name: string, cert: IssuedCert, user: string) =>
    writeKubeconfig(join(kubeconfigDir, `${name}.kubeconfig`), { server, caPem: ca.certPem, cert, user });
  const [adminKubeconfig, kcmKubeconfig, schedulerKubeconfig] = await Promise.all([
    kc('admin', admin, 'admin'),
    kc('kube-controller-manager', kcm, 'system:kube-controller-manager'),
    kc('kube-scheduler', scheduler, 'system:kube-scheduler'),
  ]);
  return {
    dir: pkiDir, ca, frontProxyCa, frontProxyClient, apiserver, kubeletClient, admin, sa,
    adminKubeconfig, kcmKubeconfig, schedulerKubeconfig,
  };
}

export function etcdArgs(ports: Ports, dataDir: string, noFsync: boolean): string[] {
  const client = `http://127.0.0.1:${ports.etcdClient}`;
  const peer = `http://127.0.0.1:${ports.etcdPeer}`;
  return [
    '--name=default',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--initial-cluster-state=new',
    ...(noFsync ? ['--unsafe-no-fsync=true'] : []),
  ];
}

export function apiserverArgs(ports: Ports, pki: ClusterPki, advertise: string): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
    '--bind-address=0.0.0.0',
    `--secure-port=${ports.api}`,
    `--advertise-address=${advertise}`,
    `--tls-cert-file=${pki.apiserver.certPath}`,
    `--tls-private-key-file=${pki.apiserver.keyPath}`,
    `--client-ca-file=${pki.ca.certPath}`,
    `--requestheader-client-ca-file=${pki.frontProxyCa.certPath}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    `--proxy-client-cert-file=${pki.frontProxyClient.certPath}`,
    `--proxy-client-key-file=${pki.frontProxyClient.keyPath}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.sa.pubPath}`,
    `--service-account-signing-key-file=${pki.sa.keyPath}`,
    `--kubelet-client-certificate=${pki.kubeletClient.certPath}`,
    `--kubelet-client-key=${pki.kubeletClient.keyPath}`,
    // The apiserver dials nodes at their InternalIP; it does not verify their serving certificates (no
    // --kubelet-certificate-authority: nodes self-sign, as kubeadm's default), but presents this client
    // certificate (CN kube-apiserver, bound to system:kubelet-api-admin by the harness).
    '--kubelet-preferred-address-types=InternalIP',
    '--allow-privileged=true',
    '--endpoint-reconciler-type=lease',
    '--storage-media-type=application/vnd.kubernetes.protobuf',
    `--cert-dir=${pki.dir}`,
    // DOCKERLET_CP_PROFILING=1 serves /debug/pprof (for a bench's look at where the apiserver's CPU goes).
    `--profiling=${process.env['DOCKERLET_CP_PROFILING'] === '1'}`,
  ];
}

export function controllerManagerArgs(ports: Ports, pki: ClusterPki): string[] {
  return [
    `--kubeconfig=${pki.kcmKubeconfig}`,
    `--authentication-kubeconfig=${pki.kcmKubeconfig}`,
    `--authorization-kubeconfig=${pki.kcmKubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${ports.kcm}`,
    '--controllers=*',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki.sa.keyPath}`,
    `--root-ca-file=${pki.ca.certPath}`,
    `--cluster-signing-cert-file=${pki.ca.certPath}`,
    `--cluster-signing-key-file=${pki.ca.keyPath}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--leader-elect=false',
    '--profiling=false',
  ];
}

export function schedulerArgs(ports: Ports, pki: ClusterPki): string[] {
  return [
    `--kubeconfig=${pki.schedulerKubeconfig}`,
    `--authentication-kubeconfig=${pki.schedulerKubeconfig}`,
    `--authorization-kubeconfig=${pki.schedulerKubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${ports.scheduler}`,
    '--leader-elect=false',
    '--profiling=false',
  ];
}
