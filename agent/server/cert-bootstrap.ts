// serverTLSBootstrap: the serving certificate from the cluster through a CertificateSigningRequest for
// the kubernetes.io/kubelet-serving signer, rotated before it expires (pkg/kubelet/certificate,
// client-go util/certificate Manager: kept in <cert-dir>/kubelet-server-current.pem, renewed at
// 70–90 % of its lifetime). Core Kubernetes never approves these CSRs: an operator (or an approver)
// runs `kubectl certificate approve`. Until then the server keeps its self-signed certificate.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeClient } from '../../kube/types.js';
import type { Clock } from '../../lib/clock.js';
import { linkAbort, type Lifecycle } from '../../lib/lifecycle.js';
import type { Logger } from '../../lib/log.js';
import { servingCsr } from './csr.js';
import { certCovers } from './serving-cert.js';

export interface CertPair {
  certPem: string;
  keyPem: string;
}

export interface CertBootstrapOptions {
  client: KubeClient;
  nodeName: string;
  sans: string[];
  certDir: string;
  clock: Clock;
  log: Logger;
  /** Called with each certificate to serve (the stored one at start, then every issued one). */
  onCertificate(pair: CertPair): void;
  pollMs?: number;
  /** A CSR not answered within this long is abandoned and a new one made. */
  pendingTimeoutMs?: number;
}

interface CsrObject {
  metadata: { name?: string };
  status?: { certificate?: string; conditions?: { type: string; reason?: string; message?: string }[] };
}

const SIGNER = 'kubernetes.io/kubelet-serving';
const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

/** When to renew: a random point in 70–90 % of the validity period (client-go nextRotationDeadline). */
export function renewAt(certPem: string, random = Math.random()): number {
  const c = new X509Certificate(certPem);
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  return from + (to - from) * (0.7 + 0.2 * random);
}

export class ServingCertBootstrap implements Lifecycle {
  readonly #o: CertBootstrapOptions;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #unlink: (() => void) | undefined;

  constructor(opts: CertBootstrapOptions) {
    this.#o = opts;
  }

  get #file(): string {
    return join(this.#o.certDir, 'kubelet-server-current.pem');
  }

  async start(signal: AbortSignal): Promise<void> {
    const link = linkAbort(signal);
    this.#abort = link.controller;
    this.#unlink = link.unlink;
    this.#loop = this.#run(link.signal).catch((err: unknown) => this.#o.log.warn({ err }, 'serving certificate bootstrap ended'));
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    this.#unlink?.();
    await this.#loop;
  }

  /** The stored issued certificate when it still covers every name and is not expired. */
  async stored(): Promise<CertPair | undefined> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch {
      return undefined;
    }
    const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(text)?.[0];
    const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(text)?.[0];
    if (!cert || !key || !certCovers(cert, this.#o.sans, this.#o.clock.now())) return undefined;
    return { certPem: text.replace(key, ''), keyPem: key };
  }

  async #run(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    while (!signal.aborted) {
      const current = await this.stored();
      if (current) {
        o.onCertificate(current);
        const wait = renewAt(current.certPem) - o.clock.now();
        if (wait > 0) await o.clock.sleep(Math.min(wait, 2 ** 31 - 1), signal);
        if (signal.aborted) return;
        if (renewAt(current.certPem) > o.clock.now()) continue;
      }
      try {
        const pair = await this.#request(signal);
        if (!pair) continue;
        await this.#save(pair);
        o.log.info({ file: this.#file }, 'serving certificate issued by the cluster');
      } catch (err) {
        if (signal.aborted) return;
        o.log.warn({ err }, 'serving certificate request failed; retrying in 30 s');
        await o.clock.sleep(30_000, signal);
      }
    }
  }

  /** Creates a CSR and waits for its certificate; undefined when it timed out (a new one is made). */
  async #request(signal: AbortSignal): Promise<CertPair | undefined> {
    const o = this.#o;
    const csr = servingCsr(o.nodeName, o.sans);
    const created = await o.client.create<CsrObject>(CSR_PATH, {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { generateName: 'csr-' },
      spec: {
        request: Buffer.from(csr.csrPem).toString('base64'),
        signerName: SIGNER,
        usages: ['digital signature', 'server auth'],
      },
    });
    const name = created.metadata.name ?? '';
    o.log.info({ csr: name, signer: SIGNER }, 'serving certificate requested; waiting for approval (kubectl certificate approve)');
    const deadline = o.clock.now() + (o.pendingTimeoutMs ?? 3_600_000);
    while (!signal.aborted && o.clock.now() < deadline) {
      await o.clock.sleep(o.pollMs ?? 2_000, signal);
      if (signal.aborted) return undefined;
      let cur: CsrObject;
      try {
        cur = await o.client.get<CsrObject>(`${CSR_PATH}/${encodeURIComponent(name)}`);
      } catch (err) {
        o.log.debug({ err, csr: name }, 'reading the CSR failed');
        continue;
      }
      const refused = cur.status?.conditions?.find((c) => c.type === 'Denied' || c.type === 'Failed');
      if (refused) {
        o.log.warn({ csr: name, condition: refused.type, reason: refused.reason, message: refused.message }, 'serving certificate request refused; asking again in 5 min');
        await o.clock.sleep(300_000, signal);
        return undefined;
      }
      if (cur.status?.certificate) return { certPem: Buffer.from(cur.status.certificate, 'base64').toString('utf8'), keyPem: csr.keyPem };
    }
    return undefined;
  }

  async #save(pair: CertPair): Promise<void> {
    await mkdir(this.#o.certDir, { recursive: true, mode: 0o700 });
    const tmp = `${this.#file}.tmp`;
    await writeFile(tmp, `${pair.certPem.trimEnd()}\n${pair.keyPem}`, { mode: 0o600 });
    await rename(tmp, this.#file);
  }
}
