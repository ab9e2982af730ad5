// Requesting a certificate through the certificates.k8s.io/v1 API (client-go util/certificate/csr:
// RequestCertificate + WaitForCertificate): create a CertificateSigningRequest, then wait until it
// carries a certificate (approved and signed) or is Denied/Failed. A name already taken by the same
// request (a restart during bootstrap) is reused, as upstream does.
import { sleepFor, systemClock, type Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { KubeObject } from '../api.js';
import { isAlreadyExists, isNotFound } from '../errors.js';
import type { KubeClient } from '../types.js';

export const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
/** The kubelet's client usages for an ECDSA key (RSA keys add "key encipherment"). */
export const KUBELET_CLIENT_USAGES = ['digital signature', 'client auth'] as const;

export interface CertificateSigningRequest extends KubeObject {
  spec: { request: string; signerName: string; usages?: string[]; expirationSeconds?: number; username?: string; groups?: string[] };
  status?: { certificate?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export interface CsrRequest {
  csrPem: string;
  /** A fixed name (bootstrap: node-csr-<digest>, so a restart finds its request) or a generateName prefix. */
  name?: string;
  generateName?: string;
  signerName?: string;
  usages?: readonly string[];
  expirationSeconds?: number;
}

/** Creates the CSR (or finds the identical one already there); returns its name. */
export async function submitCsr(client: KubeClient, req: CsrRequest, signal?: AbortSignal): Promise<string> {
  const request = Buffer.from(req.csrPem).toString('base64');
  const body: CertificateSigningRequest = {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: req.name ? { name: req.name } : { generateName: req.generateName ?? 'csr-' },
    spec: {
      request,
      signerName: req.signerName ?? KUBELET_CLIENT_SIGNER,
      usages: [...(req.usages ?? KUBELET_CLIENT_USAGES)],
      ...(req.expirationSeconds ? { expirationSeconds: req.expirationSeconds } : {}),
    },
  };
  try {
    const created = await client.create<CertificateSigningRequest>(CSR_PATH, body, signal ? { signal } : {});
    return created.metadata.name as string;
  } catch (err) {
    if (!req.name || !isAlreadyExists(err)) throw err;
    const existing = await client.get<CertificateSigningRequest>(`${CSR_PATH}/${req.name}`, signal ? { signal } : {});
    if (existing.spec.request !== request) {
      throw new DockerletError(ErrorCodes.CERTIFICATE, `CertificateSigningRequest ${req.name} exists with another request`);
    }
    return req.name;
  }
}

/** The issued certificate (PEM) once the CSR is approved and signed; throws when it is denied, failed or gone. */
export async function waitForCertificate(
  client: KubeClient, name: string, opts: { timeoutMs?: number; pollMs?: number; signal?: AbortSignal; clock?: Clock } = {},
): Promise<string> {
  const clock = opts.clock ?? systemClock;
  const deadline = clock.now() + (opts.timeoutMs ?? 15 * 60_000);
  for (;;) {
    let csr: CertificateSigningRequest | undefined;
    try {
      csr = await client.get<CertificateSigningRequest>(`${CSR_PATH}/${name}`, opts.signal ? { signal: opts.signal } : {});
    } catch (err) {
      if (isNotFound(err)) throw new DockerletError(ErrorCodes.CERTIFICATE, `CertificateSigningRequest ${name} was deleted before it was signed`, { cause: err });
      if (opts.signal?.aborted) throw err;
    }
    const conds = csr?.status?.conditions ?? [];
    const bad = conds.find((c) => (c.type === 'Denied' || c.type === 'Failed') && c.status !== 'False');
    if (bad) {
      throw new DockerletError(ErrorCodes.CERTIFICATE, `CertificateSigningRequest ${name} is ${bad.type.toLowerCase()}: ${bad.reason ?? ''} ${bad.message ?? ''}`.trim(), {
        details: { csr: name, condition: bad.type, reason: bad.reason },
      });
    }
    const approved = conds.some((c) => c.type === 'Approved' && c.status !== 'False');
    const cert = csr?.status?.certificate;
    if (approved && cert) return Buffer.from(cert, 'base64').toString('utf8');
    if (clock.now() >= deadline) {
      throw new DockerletError(ErrorCodes.TIMEOUT, `CertificateSigningRequest ${name}: ${approved ? 'approved but not signed' : 'not approved'} in time (is the csrapproving/csrsigning controller running?)`, {
        details: { csr: name, approved },
      });
    }
    if (opts.signal?.aborted) throw new DockerletError(ErrorCodes.CERTIFICATE, `waiting for CertificateSigningRequest ${name}: aborted`);
    await sleepFor(clock, opts.pollMs ?? 1_000, opts.signal);
  }
}
