// Client certificate rotation as client-go's certificate manager (util/certificate/certificate_manager.go):
// the deadline is NotBefore + a jittered 70–90 % of the certificate's whole life; then a new key, a
// CSR for the same subject signed with the current credential (the csrapproving controller approves a
// node's own renewal, selfnodeclient), the new pair stored and the client reloaded — no restart.
// A failed attempt is retried with exponential back-off (1 s doubling to 5 min), as upstream.
import type { X509Certificate } from 'node:crypto';
import { systemClock, sleepFor, type Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { Lifecycle } from '../../lib/lifecycle.js';
import { partLogger, type Logger } from '../../lib/log.js';
import { createCsr, generateNodeKey } from '../certificates/csr.js';
import { submitCsr, waitForCertificate } from '../certificates/request.js';
import type { CertificateStore } from '../certificates/store.js';
import type { KubeClient } from '../types.js';

/** A client whose credential can be re-read (RotatingKubeClient). */
export type ReloadableClient = KubeClient & { reload(): void };

/** NotBefore + (0.7 + 0.2·r) × (NotAfter − NotBefore), r in [0,1): upstream's jitteryDuration(0.7…0.9). */
export function nextRotationDeadline(cert: Pick<X509Certificate, 'validFrom' | 'validTo'>, random: () => number = Math.random): number {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  return from + Math.floor((to - from) * (0.7 + 0.2 * random()));
}

export interface RotationOptions {
  store: CertificateStore;
  client: ReloadableClient;
  /** Subject to ask for (the current certificate's: system:node:<name>, system:nodes). */
  subject: { commonName: string; organizations: string[] };
  log?: Logger;
  clock?: Clock;
  random?: () => number;
  /** Bound on one CSR's wait (default 15 min). */
  csrTimeoutMs?: number;
  /** Called after each successful rotation (tests, metrics). */
  onRotated?: (info: { csr: string; notAfter: string }) => void;
}

export class ClientCertificateRotation implements Lifecycle {
  readonly #log: Logger;
  readonly #clock: Clock;
  #ctl?: AbortController;
  #loop?: Promise<void>;
  #rotations = 0;

  constructor(private readonly opts: RotationOptions) {
    this.#log = partLogger(opts.log, 'certificate-rotation');
    this.#clock = opts.clock ?? systemClock;
  }

  get rotations(): number {
    return this.#rotations;
  }

  start(signal: AbortSignal): Promise<void> {
    if (this.#loop) return Promise.resolve();
    const ctl = new AbortController();
    this.#ctl = ctl;
    signal.addEventListener('abort', () => ctl.abort(), { once: true });
    this.#loop = this.#run(ctl.signal).catch((err: unknown) => this.#log.error({ err }, 'certificate rotation stopped'));
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#ctl?.abort();
    await this.#loop;
  }

  async #run(signal: AbortSignal): Promise<void> {
    let backoff = 1_000;
    let justRotated = false;
    while (!signal.aborted) {
      const cur = this.opts.store.current();
      if (!cur) throw new DockerletError(ErrorCodes.CERTIFICATE, `no client certificate in ${this.opts.store.currentPath} to rotate`);
      const deadline = nextRotationDeadline(cur.cert, this.opts.random);
      const wait = deadline - this.#clock.now();
      this.#log.info({ notAfter: cur.cert.validTo, rotateAt: new Date(deadline).toISOString() }, 'client certificate rotation scheduled');
      if (wait > 0) await sleepFor(this.#clock, wait, signal);
      else if (justRotated) {
        // The new certificate is already due (a signer duration shorter than its 5 min backdating, or a
        // skewed clock): do not spin on the signer, back off as after a failure.
        this.#log.warn({ notBefore: cur.cert.validFrom, notAfter: cur.cert.validTo, retryInMs: backoff }, 'the new client certificate is already due for rotation (lifetime too short?)');
        await sleepFor(this.#clock, backoff, signal);
        backoff = Math.min(backoff * 2, 5 * 60_000);
      }
      if (signal.aborted) return;
      try {
        await this.rotate(signal);
        if (wait > 0) backoff = 1_000;
        justRotated = true;
      } catch (err) {
        justRotated = false;
        if (signal.aborted) return;
        this.#log.error({ err, retryInMs: backoff }, 'client certificate rotation failed; retrying');
        await sleepFor(this.#clock, backoff, signal);
        backoff = Math.min(backoff * 2, 5 * 60_000);
      }
    }
  }

  /** One rotation now: new key, CSR with the current credential, store, reload. */
  async rotate(signal?: AbortSignal): Promise<void> {
    const { key, pem: keyPem } = generateNodeKey();
    const csrPem = createCsr(key, this.opts.subject);
    const client = this.opts.client;
    const name = await submitCsr(client, { csrPem, generateName: 'csr-' }, signal);
    this.#log.info({ csr: name }, 'client certificate rotation: CSR created');
    const certPem = await waitForCertificate(client, name, { timeoutMs: this.opts.csrTimeoutMs ?? 15 * 60_000, clock: this.#clock, ...(signal ? { signal } : {}) });
    this.opts.store.update(certPem, keyPem, new Date(this.#clock.now()));
    client.reload();
    this.opts.store.prune(2);
    this.#rotations++;
    const notAfter = this.opts.store.current()?.cert.validTo ?? '';
    this.#log.info({ csr: name, notAfter }, 'client certificate rotated');
    this.opts.onRotated?.({ csr: name, notAfter });
  }
}
