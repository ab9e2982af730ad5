// The kubelet's client certificate store (client-go util/certificate.NewFileStore): each issued
// certificate and its key in one PEM file <dir>/<prefix>-<YYYY-MM-DD-HH-MM-SS>.pem (0600), and the
// symlink <prefix>-current.pem switched atomically (rename over it) to the newest one. A reader
// that opens the current file always gets a matching certificate and key.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

export interface StoredCert {
  cert: X509Certificate;
  certPem: string;
  keyPem: string;
  /** The file the pair was read from (the -current symlink). */
  path: string;
}

function stamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace(/[T:]/g, '-');
}

export class CertificateStore {
  readonly currentPath: string;
  constructor(readonly dir: string, readonly prefix = 'kubelet-client') {
    this.currentPath = join(dir, `${prefix}-current.pem`);
  }

  /** The current pair, or undefined when there is none (or it cannot be read: a bootstrap is needed). */
  current(): StoredCert | undefined {
    let text: string;
    try {
      text = readFileSync(this.currentPath, 'utf8');
    } catch {
      return undefined;
    }
    const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(text)?.[0];
    const keyPem = /-----BEGIN (?:EC |RSA )?PRIVATE KEY-----[\s\S]+?-----END (?:EC |RSA )?PRIVATE KEY-----\n?/.exec(text)?.[0];
    if (!certPem || !keyPem) return undefined;
    try {
      const cert = new X509Certificate(certPem);
      if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return undefined;
      return { cert, certPem, keyPem, path: this.currentPath };
    } catch {
      return undefined;
    }
  }

  /** Writes a new pair and points -current at it. Returns the dated file's path. */
  update(certPem: string, keyPem: string, now = new Date()): string {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certPem);
      if (!cert.checkPrivateKey(createPrivateKey(keyPem))) throw new DockerletError(ErrorCodes.CERTIFICATE, 'the key does not match the certificate');
    } catch (err) {
      throw new DockerletError(ErrorCodes.CERTIFICATE, `certificate store ${this.dir}: refusing to store a bad pair (${(err as Error).message})`);
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    let file = join(this.dir, `${this.prefix}-${stamp(now)}.pem`);
    for (let i = 1; existsSync(file); i++) file = join(this.dir, `${this.prefix}-${stamp(now)}-${i}.pem`);
    const body = `${certPem.trimEnd()}\n${keyPem.trimEnd()}\n`;
    writeFileSync(file, body, { mode: 0o600 });
    chmodSync(file, 0o600);
    const tmpLink = join(this.dir, `.${this.prefix}-current.${process.pid}.tmp`);
    try {
      unlinkSync(tmpLink);
    } catch {
      // none left over
    }
    symlinkSync(basename(file), tmpLink);
    renameSync(tmpLink, this.currentPath);
    return file;
  }

  /** Dated files other than the current one and the newest `keep` (old credentials are not left lying around). */
  prune(keep = 1): string[] {
    const cur = this.current() ? readlinkSafe(this.currentPath) : undefined;
    const dated = readdirSync(this.dir).filter((f) => f.startsWith(`${this.prefix}-`) && f.endsWith('.pem') && f !== basename(this.currentPath)).sort();
    const drop = dated.slice(0, Math.max(0, dated.length - keep)).filter((f) => f !== cur);
    for (const f of drop) unlinkSync(join(this.dir, f));
    return drop;
  }
}

function readlinkSafe(p: string): string | undefined {
  try {
    return basename(readlinkSync(p));
  } catch {
    return undefined;
  }
}
