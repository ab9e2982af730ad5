// The two kubeconfigs of TLS bootstrapping (kubelet pkg/kubelet/certificate/bootstrap): the bootstrap
// kubeconfig (server, CA, bootstrap token) that `dockerlet join` writes, and the node kubeconfig whose
// client-certificate and client-key both name the store's <prefix>-current.pem, so a rotated
// certificate needs no new kubeconfig. Both are 0600: they hold or point at credentials.
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { stringify } from 'yaml';

function writePrivate(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

function kubeconfig(server: string, caPem: string, user: Record<string, string>): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'default-cluster', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'default-auth', user }],
    contexts: [{ name: 'default-context', context: { cluster: 'default-cluster', user: 'default-auth', namespace: 'default' } }],
    'current-context': 'default-context',
  });
}

export function writeBootstrapKubeconfig(path: string, server: string, caPem: string, token: string): void {
  writePrivate(path, kubeconfig(server, caPem, { token }));
}

export function writeNodeKubeconfig(path: string, server: string, caPem: string, currentPemPath: string): void {
  writePrivate(path, kubeconfig(server, caPem, { 'client-certificate': currentPemPath, 'client-key': currentPemPath }));
}
