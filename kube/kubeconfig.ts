// Reads a kubeconfig (or the in-cluster service-account files) once, validates every field the
// client will use, and returns a frozen KubeConnection. Any problem is ONE line naming file + field.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import { fileTokenSource, type KubeConnection } from './connection.js';

export type { KubeConnection } from './connection.js';

type Obj = Record<string, unknown>;

class Ctx {
  /** file: the kubeconfig (relative paths resolve against its folder); label: the message prefix. */
  constructor(readonly file: string, readonly label = `kubeconfig ${file}`) {}
  fail(field: string, problem: string): never {
    const where = field ? `${field}: ` : '';
    throw new DockerletError(ErrorCodes.KUBECONFIG_INVALID, `${this.label}: ${where}${problem}`, {
      details: { file: this.file, field },
    });
  }
  readFile(field: string, p: string): string {
    const full = isAbsolute(p) ? p : join(dirname(this.file), p);
    try {
      return readFileSync(full, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') this.fail(field, `file ${full} not found`);
      this.fail(field, `cannot read ${full} (${code ?? String(err)})`);
    }
  }
  b64(field: string, v: unknown): string {
    const s = this.str(field, v);
    if (!/^[A-Za-z0-9+/=\s_-]*$/.test(s)) this.fail(field, 'not valid base64');
    return Buffer.from(s, 'base64').toString('utf8');
  }
  str(field: string, v: unknown): string {
    if (typeof v !== 'string' || v.length === 0) this.fail(field, 'must be a non-empty string');
    return v;
  }
  map(field: string, v: unknown): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(field, 'must be a mapping');
    return v as Obj;
  }
}

/** Finds the named entry of a kubeconfig list (clusters/users/contexts) and returns it with its index. */
function named(c: Ctx, root: Obj, list: 'clusters' | 'users' | 'contexts', name: string, from: string): { idx: number; body: Obj } {
  const arr = root[list];
  if (arr !== undefined && arr !== null && !Array.isArray(arr)) c.fail(list, 'must be a list');
  const items = (arr ?? []) as unknown[];
  const idx = items.findIndex((e) => e !== null && typeof e === 'object' && (e as Obj).name === name);
  const singular = list.slice(0, -1);
  if (idx < 0) c.fail(from, `${singular} "${name}" not found`);
  const entry = items[idx] as Obj;
  return { idx, body: c.map(`${list}[${idx}].${singular}`, entry[singular]) };
}

function validateCert(c: Ctx, field: string, pem: string): X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) c.fail(field, 'no PEM certificate found');
  try {
    return new X509Certificate(pem);
  } catch (err) {
    c.fail(field, `invalid certificate (${(err as Error).message})`);
  }
}

/** Either the -data form (base64) or the file form of a PEM field. */
function pemField(c: Ctx, obj: Obj, base: string, key: string): string | undefined {
  const data = obj[`${key}-data`];
  const file = obj[key];
  if (data !== undefined && data !== null && data !== '') return c.b64(`${base}.${key}-data`, data);
  if (file !== undefined && file !== null && file !== '') return c.readFile(`${base}.${key}`, c.str(`${base}.${key}`, file));
  return undefined;
}

function parseServer(c: Ctx, field: string, v: unknown): string {
  const s = c.str(field, v);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    c.fail(field, `"${s}" is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') c.fail(field, `"${s}" must be an https:// URL`);
  return s.replace(/\/+$/, '');
}

function cnOf(cert: X509Certificate): string | undefined {
  const m = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject);
  return m?.[1];
}

/** Reads, validates and freezes a kubeconfig. Relative file paths are relative to the kubeconfig's folder. */
export function loadKubeconfig(path: string, opts: { context?: string } = {}): KubeConnection {
  const file = resolve(path);
  const c: Ctx = new Ctx(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    c.fail('', code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? String(err)})`);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  const yerr = doc.errors[0];
  if (yerr) c.fail('', `invalid YAML: ${(yerr.message.split('\n')[0] ?? '').replace(/:\s*$/, '')}`);
  const root = c.map('', doc.toJS());

  const ctxName = opts.context ?? (root['current-context'] as unknown);
  if (opts.context === undefined && (typeof ctxName !== 'string' || ctxName === '')) c.fail('current-context', 'not set');
  const ctxField = opts.context === undefined ? 'current-context' : 'context';
  const ctx = named(c, root, 'contexts', ctxName as string, ctxField);
  const ctxBase = `contexts[${ctx.idx}].context`;

  const clusterName = c.str(`${ctxBase}.cluster`, ctx.body.cluster);
  const cl = named(c, root, 'clusters', clusterName, `${ctxBase}.cluster`);
  const clBase = `clusters[${cl.idx}].cluster`;
  const server = parseServer(c, `${clBase}.server`, cl.body.server);
  const ca = pemField(c, cl.body, clBase, 'certificate-authority');
  if (ca !== undefined) validateCert(c, `${clBase}.certificate-authority${cl.body['certificate-authority-data'] ? '-data' : ''}`, ca);
  const skip = cl.body['insecure-skip-tls-verify'] ?? false;
  if (typeof skip !== 'boolean') c.fail(`${clBase}.insecure-skip-tls-verify`, 'must be true or false');
  const sni = cl.body['tls-server-name'];
  if (sni !== undefined) c.str(`${clBase}.tls-server-name`, sni);
  if (cl.body['proxy-url']) c.fail(`${clBase}.proxy-url`, 'proxies are not supported');

  const conn: {
    -readonly [K in keyof KubeConnection]: KubeConnection[K];
  } = { server, source: `kubeconfig ${file}`, insecureSkipTlsVerify: skip };
  if (ca !== undefined) conn.ca = ca;
  if (typeof sni === 'string') conn.tlsServerName = sni;
  const ns = ctx.body.namespace;
  if (typeof ns === 'string' && ns) conn.namespace = ns;

  const userName = ctx.body.user;
  if (userName !== undefined && userName !== null && userName !== '') {
    const u = named(c, root, 'users', c.str(`${ctxBase}.user`, userName), `${ctxBase}.user`);
    readUser(c, `users[${u.idx}].user`, u.body, conn);
  }
  return Object.freeze(conn);
}

function readUser(c: Ctx, base: string, user: Obj, conn: { -readonly [K in keyof KubeConnection]: KubeConnection[K] }): void {
  for (const k of ['exec', 'auth-provider']) if (user[k]) c.fail(`${base}.${k}`, 'credential plugins are not supported');
  if (user.username || user.password) c.fail(`${base}.username`, 'basic authentication is not supported');
  const cert = pemField(c, user, base, 'client-certificate');
  const key = pemField(c, user, base, 'client-key');
  if (cert !== undefined && key === undefined) c.fail(`${base}.client-key`, 'missing (client-certificate is set)');
  if (key !== undefined && cert === undefined) c.fail(`${base}.client-certificate`, 'missing (client-key is set)');
  if (cert !== undefined && key !== undefined) {
    const certField = `${base}.client-certificate${user['client-certificate-data'] ? '-data' : ''}`;
    const keyField = `${base}.client-key${user['client-key-data'] ? '-data' : ''}`;
    const x = validateCert(c, certField, cert);
    let k;
    try {
      k = createPrivateKey(key);
    } catch (err) {
      c.fail(keyField, `invalid private key (${(err as Error).message})`);
    }
    if (!x.checkPrivateKey(k)) c.fail(keyField, 'does not match the client certificate');
    conn.clientCert = cert;
    conn.clientKey = key;
    const cn = cnOf(x);
    if (cn) conn.userHint = cn;
  }
  if (user.token !== undefined && user.token !== null && user.token !== '') {
    const token = c.str(`${base}.token`, user.token).trim();
    conn.bearerToken = () => token;
  } else if (user.tokenFile) {
    const p = c.str(`${base}.tokenFile`, user.tokenFile);
    const full = isAbsolute(p) ? p : join(dirname(c.file), p);
    if (!c.readFile(`${base}.tokenFile`, p).trim()) c.fail(`${base}.tokenFile`, `file ${full} is empty`);
    conn.bearerToken = fileTokenSource(full);
  }
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The connection a pod uses to reach its cluster: KUBERNETES_SERVICE_HOST/PORT, the mounted CA and
 * the projected token (re-read whenever the file changes).
 */
export function inClusterConnection(opts: { dir?: string; env?: NodeJS.ProcessEnv } = {}): KubeConnection {
  const dir = opts.dir ?? SA_DIR;
  const env = opts.env ?? process.env;
  const c: Ctx = new Ctx(join(dir, 'token'), 'in-cluster config');
  const fail = (field: string, problem: string): never => c.fail(field, problem);
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host) fail('KUBERNETES_SERVICE_HOST', 'not set (not running in a pod?)');
  if (!port || !/^\d+$/.test(port)) fail('KUBERNETES_SERVICE_PORT', port ? `"${port}" is not a port` : 'not set');
  const hostPart = isIP(host as string) === 6 ? `[${host}]` : (host as string);
  const caPath = join(dir, 'ca.crt');
  const tokenPath = join(dir, 'token');
  let ca: string;
  try {
    ca = readFileSync(caPath, 'utf8');
  } catch {
    fail(caPath, 'not found');
  }
  validateCert(c, caPath, ca!);
  const token = fileTokenSource(tokenPath);
  if (!token()) fail(tokenPath, 'missing or empty');
  const conn: KubeConnection = {
    server: `https://${hostPart}:${port}`,
    source: 'in-cluster',
    ca: ca!,
    insecureSkipTlsVerify: false,
    bearerToken: token,
  };
  let ns: string | undefined;
  try {
    ns = readFileSync(join(dir, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    ns = undefined;
  }
  return Object.freeze(ns ? { ...conn, namespace: ns } : conn);
}
