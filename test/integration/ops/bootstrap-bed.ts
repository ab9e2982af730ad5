// A control plane set up for node TLS bootstrapping as kubeadm init leaves it: bootstrap-token
// authentication on the apiserver, the bootstrapsigner/tokencleaner controllers, a bootstrap token
// Secret, kube-public/cluster-info readable anonymously, and kubeadm's RBAC bindings (node-bootstrapper,
// nodeclient auto-approval for the token's group, selfnodeclient for renewals).
// The harness has no apiserver-flag option yet: its binary dir here is a copy of the real one whose
// kube-apiserver is a script that execs the real binary with --enable-bootstrap-token-auth=true.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { publicKeyPinHash } from '../../../kube/certificates/csr.js';
import { createKubeClient, type DockerletKubeClient } from '../../../kube/client.js';
import { loadKubeconfig } from '../../../kube/kubeconfig.js';
import { X509Certificate } from 'node:crypto';
import { BINARIES, resolveBinDir } from '../../cluster/components.js';
import { startControlPlane, type ControlPlane } from '../../cluster/harness.js';

export const TOKEN_GROUP = 'system:bootstrappers:kubeadm:default-node-token';

export interface BootstrapBed {
  cp: ControlPlane;
  admin: DockerletKubeClient;
  /** "<id>.<secret>" */
  token: string;
  caHash: string;
  stop(): Promise<void>;
}

function wrappedBinDir(): { dir: string; cleanup: () => void } {
  const real = resolveBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'dockerlet-ops-bin-'));
  for (const b of BINARIES) {
    if (b === 'kube-apiserver') {
      const p = join(dir, b);
      writeFileSync(p, `#!/bin/sh\nexec ${JSON.stringify(join(real, b))} "$@" --enable-bootstrap-token-auth=true\n`);
      chmodSync(p, 0o755);
    } else symlinkSync(join(real, b), join(dir, b));
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const rand = (n: number) => {
  const abc = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(n)].map((b) => abc[b % abc.length]).join('');
};

function crb(name: string, role: string, group: string) {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
  };
}

/** Creates a token Secret as `kubeadm token create` does; returns "<id>.<secret>". */
export async function createBootstrapToken(admin: DockerletKubeClient, opts: { usages?: string[]; ttlSeconds?: number } = {}): Promise<string> {
  const id = rand(6);
  const secret = rand(16);
  const usages = opts.usages ?? ['authentication', 'signing'];
  await admin.create('/api/v1/namespaces/kube-system/secrets', {
    apiVersion: 'v1', kind: 'Secret', type: 'bootstrap.kubernetes.io/token',
    metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' },
    stringData: {
      'token-id': id, 'token-secret': secret, 'auth-extra-groups': TOKEN_GROUP,
      expiration: new Date(Date.now() + (opts.ttlSeconds ?? 3600) * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
      ...Object.fromEntries(usages.map((u) => [`usage-bootstrap-${u}`, 'true'])),
    },
  });
  return `${id}.${secret}`;
}

export async function startBootstrapBed(opts: { signingDuration?: string } = {}): Promise<BootstrapBed> {
  const bin = wrappedBinDir();
  let cp: ControlPlane;
  try {
    cp = await startControlPlane({
      binDir: bin.dir,
      controllerManagerArgs: [
        '--controllers=*,bootstrapsigner,tokencleaner',
        ...(opts.signingDuration ? [`--cluster-signing-duration=${opts.signingDuration}`] : []),
      ],
    });
  } catch (err) {
    bin.cleanup();
    throw err;
  }
  const admin = createKubeClient(loadKubeconfig(cp.adminKubeconfigPath));
  try {
    const rbac = '/apis/rbac.authorization.k8s.io/v1';
    await admin.create(`${rbac}/clusterrolebindings`, crb('kubeadm:kubelet-bootstrap', 'system:node-bootstrapper', TOKEN_GROUP));
    await admin.create(`${rbac}/clusterrolebindings`, crb('kubeadm:node-autoapprove-bootstrap', 'system:certificates.k8s.io:certificatesigningrequests:nodeclient', TOKEN_GROUP));
    await admin.create(`${rbac}/clusterrolebindings`, crb('kubeadm:node-autoapprove-certificate-rotation', 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', 'system:nodes'));
    await admin.create(`${rbac}/namespaces/kube-public/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'kubeadm:bootstrap-signer-clusterinfo', namespace: 'kube-public' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['cluster-info'], verbs: ['get'] }],
    });
    await admin.create(`${rbac}/namespaces/kube-public/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'kubeadm:bootstrap-signer-clusterinfo', namespace: 'kube-public' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kubeadm:bootstrap-signer-clusterinfo' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:anonymous' }],
    });
    const kubeconfig = stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': '', contexts: [], users: [],
      clusters: [{ name: '', cluster: { server: cp.server, 'certificate-authority-data': Buffer.from(cp.caCertPem).toString('base64') } }],
    });
    await admin.create('/api/v1/namespaces/kube-public/configmaps', {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info', namespace: 'kube-public' }, data: { kubeconfig },
    });
    const token = await createBootstrapToken(admin);
    return {
      cp, admin, token,
      caHash: publicKeyPinHash(new X509Certificate(cp.caCertPem)),
      async stop() {
        admin.close();
        await cp.stop();
        bin.cleanup();
      },
    };
  } catch (err) {
    admin.close();
    await cp.stop();
    bin.cleanup();
    throw err;
  }
}
