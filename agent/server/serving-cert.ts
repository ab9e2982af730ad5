// The kubelet API's serving certificate, as the kubelet picks it (cmd/kubelet/app/server.go
// InitializeTLS): --tls-cert-file/--tls-private-key-file when given, else <cert-dir>/kubelet.crt and
// kubelet.key, generated self-signed when missing. Unlike upstream, a stored self-signed certificate
// that has expired or no longer names every node address is replaced (the node's IP may change).
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { selfSignedCertificate } from './selfsigned.js';

export interface ServingCertOptions {
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** Where a self-signed pair lives (rootDir/pki). */
  certDir: string;
  /** Names and IPs the certificate must cover (node name, hostname, node IPs). */
  sans: string[];
  /** The CN stem (upstream: the hostname). */
  host: string;
  clock: Clock;
}

export interface ServingCert {
  certPem: string;
  keyPem: string;
  source: 'files' | 'self-signed' | 'generated';
  certPath: string;
}

const YEAR_MS = 365 * 24 * 3600 * 1000;
/** Replace a stored self-signed certificate this close to expiry. */
const RENEW_BEFORE_MS = 24 * 3600 * 1000;

async function readPair(certPath: string, keyPath: string): Promise<{ certPem: string; keyPem: string }> {
  const read = async (path: string, field: string) => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new DockerletError(ErrorCodes.CONFIG_INVALID, `${field}: cannot read ${path}: ${errorMessage(err)}`);
    }
  };
  return { certPem: await read(certPath, 'tlsCertFile'), keyPem: await read(keyPath, 'tlsPrivateKeyFile') };
}

/** Whether a stored certificate is still fine: not near expiry, and covering every wanted name. */
export function certCovers(certPem: string, sans: string[], nowMs: number): boolean {
  try {
    const c = new X509Certificate(certPem);
    if (Date.parse(c.validTo) - RENEW_BEFORE_MS <= nowMs || Date.parse(c.validFrom) > nowMs) return false;
    return sans.every((s) => (isIP(s) ? c.checkIP(s) !== undefined : c.checkHost(s, { wildcards: false }) !== undefined));
  } catch {
    return false;
  }
}

export async function loadServingCert(o: ServingCertOptions): Promise<ServingCert> {
  if (o.tlsCertFile || o.tlsPrivateKeyFile) {
    if (!o.tlsCertFile || !o.tlsPrivateKeyFile) {
      throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'tlsCertFile and tlsPrivateKeyFile must be given together');
    }
    const pair = await readPair(o.tlsCertFile, o.tlsPrivateKeyFile);
    try {
      new X509Certificate(pair.certPem);
    } catch (err) {
      throw new DockerletError(ErrorCodes.CONFIG_INVALID, `tlsCertFile: ${o.tlsCertFile} is not a PEM certificate: ${errorMessage(err)}`);
    }
    return { ...pair, source: 'files', certPath: o.tlsCertFile };
  }
  const certPath = join(o.certDir, 'kubelet.crt');
  const keyPath = join(o.certDir, 'kubelet.key');
  const now = o.clock.now();
  const stored = await readPair(certPath, keyPath).catch(() => undefined);
  if (stored && certCovers(stored.certPem, o.sans, now)) return { ...stored, source: 'self-signed', certPath };
  const pair = selfSignedCertificate({
    commonName: `${o.host}@${Math.floor(now / 1000)}`,
    sans: o.sans,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + YEAR_MS),
  });
  try {
    await mkdir(o.certDir, { recursive: true, mode: 0o700 });
    await writeFile(`${keyPath}.tmp`, pair.keyPem, { mode: 0o600 });
    await writeFile(`${certPath}.tmp`, pair.certPem, { mode: 0o644 });
    await rename(`${keyPath}.tmp`, keyPath);
    await rename(`${certPath}.tmp`, certPath);
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `rootDir: cannot write the serving certificate under ${o.certDir}: ${errorMessage(err)}`);
  }
  return { ...pair, source: 'generated', certPath };
}
