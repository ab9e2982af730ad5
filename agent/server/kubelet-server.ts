// The kubelet API server as a long-running part: start() loads (or makes) the serving certificate
// and the client CA, builds the routes and listens on address:port (and, when readOnlyPort is set, an
// unauthenticated plain-HTTP server with only healthz and /pods, as ListenAndServeKubeletReadOnlyServer);
// stop() closes the listeners and every open connection (follows included).
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import type { Lifecycle } from '../../lib/lifecycle.js';
import type { Logger } from '../../lib/log.js';
import { buildKubeletServer, type KubeletServerDeps } from './server.js';
import { loadServingCert } from './serving-cert.js';
import type { GateResult, RequestGate, RoutePlugin } from './types.js';

export interface KubeletServerOptions {
  address: string;
  port: number;
  /** 0 = off. */
  readOnlyPort: number;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  clientCAFile?: string;
  /** Where a self-signed certificate is kept (rootDir/pki). */
  certDir: string;
  /** Names and IPs the self-signed certificate must cover. */
  sans: string[];
  host: string;
  clock: Clock;
  log: Logger;
  /** How often clientCAFile is re-read (upstream reloads it dynamically); default 60 s. */
  clientCAReloadMs?: number;
  /** Plugins also served on the read-only port (metrics); streaming never is. */
  readOnlyPlugins?: readonly RoutePlugin[];
}

/** The read-only port authenticates nobody and allows everything it serves (upstream: auth=nil). */
const openGate: RequestGate = async (req): Promise<GateResult> => ({
  allowed: true,
  user: { username: 'system:anonymous', groups: ['system:unauthenticated'] },
  attributes: { verb: 'get', resource: 'nodes', subresource: 'proxy', name: '', ...(req.url ? { path: req.url } : {}) },
});

export class KubeletServer implements Lifecycle {
  readonly #o: KubeletServerOptions;
  readonly #deps: KubeletServerDeps;
  #app: FastifyInstance | undefined;
  #readOnly: FastifyInstance | undefined;
  #certSource: string | undefined;
  #clientCaPem: string | undefined;
  #pair: { certPem: string; keyPem: string } | undefined;
  #caTimer: NodeJS.Timeout | undefined;

  constructor(opts: KubeletServerOptions, deps: KubeletServerDeps) {
    this.#o = opts;
    this.#deps = deps;
  }

  /** The bound port (after start), e.g. when port 0 was asked for. */
  port(): number | undefined {
    return (this.#app?.server.address() as AddressInfo | null)?.port;
  }

  readOnlyPort(): number | undefined {
    return (this.#readOnly?.server.address() as AddressInfo | null)?.port;
  }

  app(): FastifyInstance | undefined {
    return this.#app;
  }

  async start(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    const cert = await loadServingCert({
      ...(o.tlsCertFile ? { tlsCertFile: o.tlsCertFile } : {}),
      ...(o.tlsPrivateKeyFile ? { tlsPrivateKeyFile: o.tlsPrivateKeyFile } : {}),
      certDir: o.certDir, sans: o.sans, host: o.host, clock: o.clock,
    });
    this.#certSource = cert.source;
    const clientCaPem = o.clientCAFile ? await readClientCA(o.clientCAFile) : undefined;
    this.#clientCaPem = clientCaPem;
    this.#pair = { certPem: cert.certPem, keyPem: cert.keyPem };
    const app = await buildKubeletServer(this.#deps, { certPem: cert.certPem, keyPem: cert.keyPem, ...(clientCaPem ? { clientCaPem } : {}) });
    this.#app = app;
    await this.#listen(app, o.port, 'kubelet API');
    if (o.readOnlyPort > 0) {
      const ro = await buildKubeletServer({ ...this.#deps, gate: openGate, plugins: o.readOnlyPlugins ?? [], readOnly: true });
      this.#readOnly = ro;
      await this.#listen(ro, o.readOnlyPort, 'read-only kubelet API');
    }
    if (o.clientCAFile) {
      this.#caTimer = setInterval(() => void this.reloadClientCA().catch((err: unknown) => o.log.warn({ err }, 'client CA not reloaded')), o.clientCAReloadMs ?? 60_000);
      this.#caTimer.unref();
    }
    signal.addEventListener('abort', () => void this.stop(), { once: true });
    o.log.info({ address: o.address, port: this.port(), readOnlyPort: this.readOnlyPort(), certificate: this.#certSource, certPath: cert.certPath, clientCA: Boolean(clientCaPem) }, 'kubelet API listening');
  }

  /** Serves another certificate from the next handshake on (a rotated or cluster-issued one). */
  replaceCertificate(certPem: string, keyPem: string): void {
    this.#pair = { certPem, keyPem };
    this.#certSource = 'cluster';
    this.#applyContext();
  }

  /** Re-reads clientCAFile; a changed CA bundle applies from the next handshake. Returns whether it changed. */
  async reloadClientCA(): Promise<boolean> {
    if (!this.#o.clientCAFile || !this.#app) return false;
    const pem = await readClientCA(this.#o.clientCAFile);
    if (pem === this.#clientCaPem) return false;
    this.#clientCaPem = pem;
    this.#applyContext();
    this.#o.log.info({ file: this.#o.clientCAFile }, 'client CA reloaded');
    return true;
  }

  #applyContext(): void {
    const server = this.#app?.server as unknown as { setSecureContext?(o: object): void } | undefined;
    if (!this.#pair) return;
    server?.setSecureContext?.({ cert: this.#pair.certPem, key: this.#pair.keyPem, minVersion: 'TLSv1.2', ...(this.#clientCaPem ? { ca: this.#clientCaPem } : {}) });
  }

  async #listen(app: FastifyInstance, port: number, what: string): Promise<void> {
    try {
      await app.listen({ host: this.#o.address, port });
    } catch (err) {
      await app.close().catch(() => undefined);
      throw new DockerletError(ErrorCodes.SERVER, `${what}: cannot listen on ${this.#o.address}:${port}: ${errorMessage(err)}`, { cause: err });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#caTimer);
    this.#caTimer = undefined;
    const apps = [this.#app, this.#readOnly].filter((a): a is FastifyInstance => a !== undefined);
    this.#app = undefined;
    this.#readOnly = undefined;
    await Promise.all(apps.map((a) => a.close().catch(() => undefined)));
  }
}

async function readClientCA(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `authentication.x509.clientCAFile: cannot read ${file}: ${errorMessage(err)}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `authentication.x509.clientCAFile: ${file} holds no PEM certificate`);
  }
  return pem;
}
