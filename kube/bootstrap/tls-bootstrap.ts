// TLS bootstrapping as the kubelet's --bootstrap-kubeconfig (pkg/kubelet/certificate/bootstrap
// LoadClientCert): when the node kubeconfig is missing or its client certificate has expired, ask for
// one with the bootstrap credential — a CSR for CN=system:node:<name>, O=system:nodes with signer
// kubernetes.io/kube-apiserver-client-kubelet — wait for the controller-manager to approve and sign
// it, store it, and write the node kubeconfig. The key waits in <certDir>/kubelet-client.key.tmp so a
// restart mid-way sends the same request again (the CSR name is a digest of key and subject).
import { X509Certificate, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { createCsr, generateNodeKey } from '../certificates/csr.js';
import { submitCsr, waitForCertificate } from '../certificates/request.js';
import { CertificateStore } from '../certificates/store.js';
import { createKubeClient } from '../client.js';
import type { KubeConnection } from '../connection.js';
import { loadKubeconfig } from '../kubeconfig.js';
import { writeNodeKubeconfig } from './kubeconfigs.js';

export interface BootstrapOptions {
  /** The node kubeconfig to use or create. */
  kubeconfigPath: string;
  /** Where the bootstrap credential comes from (a kubeconfig path or a ready connection). */
  bootstrap: string | KubeConnection;
  certDir: string;
  nodeName: string;
  log: Logger;
  signal?: AbortSignal;
  timeoutMs?: number;
  now?: () => number;
}

export interface BootstrapResult {
  /** false: the existing node credential was still valid. */
  issued: boolean;
  csrName?: string;
  notAfter: Date;
}

/** The node subject the kubelet's client certificate carries. */
export function nodeSubject(nodeName: string): { commonName: string; organizations: string[] } {
  return { commonName: `system:node:${nodeName}`, organizations: ['system:nodes'] };
}

function validExisting(path: string, now: number): Date | undefined {
  try {
    const conn = loadKubeconfig(path);
    if (!conn.clientCert) return undefined;
    const notAfter = new Date(new X509Certificate(conn.clientCert).validTo);
    return notAfter.getTime() > now ? notAfter : undefined;
  } catch {
    return undefined;
  }
}

function loadOrCreateKey(path: string): { pem: string; key: KeyObject } {
  try {
    const pem = readFileSync(path, 'utf8');
    return { pem, key: createPrivateKey(pem) };
  } catch {
    const k = generateNodeKey();
    writeFileSync(path, k.pem, { mode: 0o600 });
    return { pem: k.pem, key: k.key };
  }
}

export async function loadClientCert(opts: BootstrapOptions): Promise<BootstrapResult> {
  const now = opts.now ?? Date.now;
  const existing = validExisting(opts.kubeconfigPath, now());
  if (existing) {
    opts.log.info({ kubeconfig: opts.kubeconfigPath, notAfter: existing.toISOString() }, 'node client certificate still valid; no bootstrap needed');
    return { issued: false, notAfter: existing };
  }
  const bootConn = typeof opts.bootstrap === 'string' ? loadKubeconfig(opts.bootstrap) : opts.bootstrap;
  if (!bootConn.ca) {
    throw new DockerletError(ErrorCodes.KUBECONFIG_INVALID, `${bootConn.source}: the bootstrap credential has no certificate-authority (the node kubeconfig needs the cluster CA)`);
  }
  const store = new CertificateStore(opts.certDir);
  const keyPath = join(opts.certDir, 'kubelet-client.key.tmp');
  mkdirSync(opts.certDir, { recursive: true, mode: 0o700 });
  const { pem: keyPem, key } = loadOrCreateKey(keyPath);
  const subject = nodeSubject(opts.nodeName);
  const csrPem = createCsr(key, subject);
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const digest = createHash('sha512').update(spki).update(`${subject.commonName}\n${subject.organizations.join(',')}`).digest('base64url').slice(0, 43);
  const name = `node-csr-${digest}`;
  const client = createKubeClient(bootConn, { log: opts.log });
  try {
    opts.log.info({ csr: name, node: opts.nodeName, server: bootConn.server }, 'requesting a node client certificate (TLS bootstrap)');
    await submitCsr(client, { csrPem, name }, opts.signal);
    const certPem = await waitForCertificate(client, name, { timeoutMs: opts.timeoutMs ?? 15 * 60_000, ...(opts.signal ? { signal: opts.signal } : {}) });
    const file = store.update(certPem, keyPem, new Date(now()));
    writeNodeKubeconfig(opts.kubeconfigPath, bootConn.server, bootConn.ca, store.currentPath);
    unlinkSync(keyPath);
    const notAfter = new Date(new X509Certificate(certPem).validTo);
    opts.log.info({ csr: name, file, notAfter: notAfter.toISOString(), kubeconfig: opts.kubeconfigPath }, 'node client certificate issued');
    return { issued: true, csrName: name, notAfter };
  } finally {
    client.close();
  }
}
