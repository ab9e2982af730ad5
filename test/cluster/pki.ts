// Test PKI for the local control plane: a CA plus leaf certificates and kubeconfigs, made with the
// openssl CLI (ECDSA P-256 keys, PKCS#8 PEM). Test-only; nothing here is used by the agent itself.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

const run = promisify(execFile);
const OPENSSL = process.env.DOCKERLET_OPENSSL ?? 'openssl';
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface Ca {
  certPath: string;
  keyPath: string;
  certPem: string;
}

export interface IssuedCert {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

export interface CertRequest {
  /** File stem under the output dir: <name>.crt / <name>.key. */
  name: string;
  commonName: string;
  organizations?: string[];
  /** Subject alternative names; IPv4 literals become IP: entries, the rest DNS:. */
  sans?: string[];
  usage: 'client' | 'server' | 'both';
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run(OPENSSL, args, { timeout: 30_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new DockerletError(ErrorCodes.CONTROL_PLANE, `openssl ${args[0]} failed: ${stderr.trim() || String(err)}`, { cause: err });
  }
}

/** Escapes one RDN value for openssl's -subj syntax (/ and \ and + and = are special). */
function rdn(value: string): string {
  if (value.length === 0) throw new DockerletError(ErrorCodes.CONTROL_PLANE, 'empty certificate subject component');
  return value.replace(/[\\/+=]/g, (c) => `\\${c}`);
}

function subject(commonName: string, organizations: string[]): string {
  return organizations.map((o) => `/O=${rdn(o)}`).join('') + `/CN=${rdn(commonName)}`;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f; // keep it positive
  return `0x${b.toString('hex')}`;
}

/** Creates a self-signed CA (10 years) under dir as <name>.crt/<name>.key. */
export async function createCa(dir: string, commonName = 'dockerlet-test-ca', name = 'ca'): Promise<Ca> {
  await mkdir(dir, { recursive: true });
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  await openssl([
    'req', '-x509', '-new', ...EC_KEY, '-keyout', keyPath, '-out', certPath, '-days', '3650',
    '-subj', subject(commonName, []), '-set_serial', serial(),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  return { certPath, keyPath, certPem: await readFile(certPath, 'utf8') };
}

/** Issues a leaf certificate (1 year) signed by the CA into dir/<name>.crt and dir/<name>.key. */
export async function issueCert(ca: Ca, dir: string, req: CertRequest): Promise<IssuedCert> {
  await mkdir(dir, { recursive: true });
  const certPath = join(dir, `${req.name}.crt`);
  const keyPath = join(dir, `${req.name}.key`);
  const eku = req.usage === 'client' ? 'clientAuth' : req.usage === 'server' ? 'serverAuth' : 'serverAuth,clientAuth';
  const ext = [
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    '-addext', `extendedKeyUsage=${eku}`,
  ];
  if (req.sans && req.sans.length > 0) {
    const sans = req.sans.map((s) => (/^\d{1,3}(\.\d{1,3}){3}$/.test(s) ? `IP:${s}` : `DNS:${s}`)).join(',');
    ext.push('-addext', `subjectAltName=${sans}`);
  }
  await openssl([
    'req', '-x509', '-new', ...EC_KEY, '-keyout', keyPath, '-out', certPath, '-days', '365',
    '-subj', subject(req.commonName, req.organizations ?? []), '-CA', ca.certPath, '-CAkey', ca.keyPath,
    '-set_serial', serial(), ...ext,
  ]);
  const [certPem, keyPem] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  return { certPath, keyPath, certPem, keyPem };
}

/** Creates an ECDSA key pair for signing service-account tokens: <name>.key (PKCS#8) and <name>.pub. */
export async function createSigningKeyPair(dir: string, name = 'sa'): Promise<{ keyPath: string; pubPath: string }> {
  await mkdir(dir, { recursive: true });
  const keyPath = join(dir, `${name}.key`);
  const pubPath = join(dir, `${name}.pub`);
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', keyPath]);
  await openssl(['pkey', '-in', keyPath, '-pubout', '-out', pubPath]);
  return { keyPath, pubPath };
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** Renders a self-contained kubeconfig (certificates embedded as *-data). */
export function renderKubeconfig(opts: { server: string; caPem: string; certPem: string; keyPem: string; user: string }): string {
  const name = 'dockerlet-test';
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${name}`,
    '  cluster:',
    `    server: ${opts.server}`,
    `    certificate-authority-data: ${b64(opts.caPem)}`,
    'users:',
    `- name: ${JSON.stringify(opts.user)}`,
    '  user:',
    `    client-certificate-data: ${b64(opts.certPem)}`,
    `    client-key-data: ${b64(opts.keyPem)}`,
    'contexts:',
    `- name: ${name}`,
    '  context:',
    `    cluster: ${name}`,
    `    user: ${JSON.stringify(opts.user)}`,
    `current-context: ${name}`,
    '',
  ].join('\n');
}

/** Writes a kubeconfig file with mode 0600 (it holds a private key). */
export async function writeKubeconfig(
  path: string,
  opts: { server: string; caPem: string; cert: IssuedCert; user: string },
): Promise<string> {
  const text = renderKubeconfig({ server: opts.server, caPem: opts.caPem, certPem: opts.cert.certPem, keyPem: opts.cert.keyPem, user: opts.user });
  await writeFile(path, text, { mode: 0o600 });
  return path;
}
