// The daemon's node credential at start-up, as the kubelet's run(): with a bootstrap kubeconfig, make
// sure a valid node client certificate exists first (TLS bootstrap); with rotateCertificates, give the
// API users a RotatingKubeClient and run the rotation part next to the agent.
import { join } from 'node:path';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { CertificateStore } from '../certificates/store.js';
import { RotatingKubeClient } from './rotating-client.js';
import { ClientCertificateRotation } from './rotation.js';
import { loadClientCert, nodeSubject } from './tls-bootstrap.js';

export interface NodeCredentialConfig {
  kubeconfig?: string;
  /** --bootstrap-kubeconfig: used only when the kubeconfig is missing or its certificate expired. */
  bootstrapKubeconfig?: string;
  /** --cert-dir (default <rootDir>/pki). */
  certDir?: string;
  rootDir: string;
  nodeName: string;
  rotateCertificates: boolean;
}

export interface NodeCredentials {
  /** The client the agent and proxy share (undefined: use the plain client of the kubeconfig). */
  client?: RotatingKubeClient;
  /** A Lifecycle part to start with the agent. */
  rotation?: ClientCertificateRotation;
}

export function certDirOf(cfg: Pick<NodeCredentialConfig, 'certDir' | 'rootDir'>): string {
  return cfg.certDir ?? join(cfg.rootDir, 'pki');
}

export async function prepareNodeCredentials(cfg: NodeCredentialConfig, log: Logger, signal?: AbortSignal): Promise<NodeCredentials> {
  const certDir = certDirOf(cfg);
  if (cfg.bootstrapKubeconfig) {
    if (!cfg.kubeconfig) throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'kubeconfig: required with --bootstrap-kubeconfig (where the node kubeconfig is written)');
    await loadClientCert({
      kubeconfigPath: cfg.kubeconfig, bootstrap: cfg.bootstrapKubeconfig, certDir, nodeName: cfg.nodeName,
      log: log.child({ component: 'tls-bootstrap' }), ...(signal ? { signal } : {}),
    });
  }
  if (!cfg.rotateCertificates || !cfg.kubeconfig) return {};
  const store = new CertificateStore(certDir);
  const cur = store.current();
  if (!cur) {
    log.warn({ certDir }, 'rotateCertificates: no client certificate in the store (the kubeconfig was not written by a TLS bootstrap); not rotating');
    return {};
  }
  const client = new RotatingKubeClient(cfg.kubeconfig, { log: log.child({ component: 'kube-client' }) });
  const rotation = new ClientCertificateRotation({
    store, client, subject: nodeSubject(cfg.nodeName), log: log.child({ component: 'certificate-rotation' }),
  });
  return { client, rotation };
}
