import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import { inClusterConnection, loadKubeconfig } from '../../../kube/kubeconfig.js';
import { createCa, issueCert, type Ca, type IssuedCert } from '../../cluster/pki.js';

let dir: string;
let ca: Ca;
let node: IssuedCert;
let other: IssuedCert;
const b64 = (s: string) => Buffer.from(s).toString('base64');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dkl-kubeconfig-'));
  ca = await createCa(join(dir, 'pki'));
  node = await issueCert(ca, join(dir, 'pki'), { name: 'node', commonName: 'system:node:n1', organizations: ['system:nodes'], usage: 'client' });
  other = await issueCert(ca, join(dir, 'pki'), { name: 'other', commonName: 'someone', usage: 'client' });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function kubeconfig(user: string, cluster = `    server: https://127.0.0.1:6443/\n    certificate-authority: pki/ca.crt\n`, extra = ''): string {
  return [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: c1', '  cluster:', cluster.trimEnd(),
    'users:', '- name: u1', '  user:', user.trimEnd(),
    'contexts:', '- name: ctx1', '  context:', '    cluster: c1', '    user: u1', '    namespace: team-a',
    'current-context: ctx1', extra, '',
  ].join('\n');
}

async function write(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

function expectInvalid(fn: () => unknown, ...parts: (string | RegExp)[]): DockerletError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof DockerletError, `expected a DockerletError, got ${String(caught)}`);
  assert.equal(caught.code, ErrorCodes.KUBECONFIG_INVALID);
  assert.ok(!caught.message.includes('\n'), `one line: ${caught.message}`);
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(caught.message.includes(p), `"${caught.message}" should include "${p}"`);
    else assert.match(caught.message, p);
  }
  return caught;
}

test('file-based client certificate kubeconfig: relative paths, user hint, namespace, frozen', async () => {
  const p = await write('files.yaml', kubeconfig('    client-certificate: pki/node.crt\n    client-key: pki/node.key'));
  const c = loadKubeconfig(p);
  assert.equal(c.server, 'https://127.0.0.1:6443');
  assert.equal(c.ca, ca.certPem);
  assert.equal(c.clientCert, node.certPem);
  assert.equal(c.clientKey, node.keyPem);
  assert.equal(c.userHint, 'system:node:n1');
  assert.equal(c.namespace, 'team-a');
  assert.equal(c.insecureSkipTlsVerify, false);
  assert.equal(c.bearerToken, undefined);
  assert.ok(Object.isFrozen(c));
  assert.match(c.source, /files\.yaml$/);
});

test('embedded -data fields and insecure-skip-tls-verify', async () => {
  const p = await write('data.yaml', kubeconfig(
    `    client-certificate-data: ${b64(node.certPem)}\n    client-key-data: ${b64(node.keyPem)}`,
    `    server: https://10.0.0.1:443\n    certificate-authority-data: ${b64(ca.certPem)}\n    insecure-skip-tls-verify: true\n    tls-server-name: kubernetes`,
  ));
  const c = loadKubeconfig(p);
  assert.equal(c.clientKey, node.keyPem);
  assert.equal(c.insecureSkipTlsVerify, true);
  assert.equal(c.tlsServerName, 'kubernetes');
});

test('token and tokenFile (re-read when the file changes)', async () => {
  const t = loadKubeconfig(await write('token.yaml', kubeconfig('    token: abc123')));
  assert.equal(t.bearerToken?.(), 'abc123');
  const tokPath = join(dir, 'tok');
  await writeFile(tokPath, 'first\n');
  const f = loadKubeconfig(await write('tokfile.yaml', kubeconfig('    tokenFile: tok')));
  assert.equal(f.bearerToken?.(), 'first');
  await writeFile(tokPath, 'second-token\n');
  await utimes(tokPath, new Date(), new Date(Date.now() + 5000));
  assert.equal(f.bearerToken?.(), 'second-token');
});

test('--context selects another context', async () => {
  const text = kubeconfig('    token: x').replace('contexts:\n', 'contexts:\n- name: ctx2\n  context:\n    cluster: c1\n');
  const p = await write('ctx.yaml', text);
  const c = loadKubeconfig(p, { context: 'ctx2' });
  assert.equal(c.bearerToken, undefined);
  assert.equal(c.namespace, undefined);
  assert.equal(loadKubeconfig(p).bearerToken?.(), 'x');
  expectInvalid(() => loadKubeconfig(p, { context: 'nope' }), `kubeconfig ${p}: context: context "nope" not found`);
});

test('missing client-key file names the file and the field', async () => {
  const p = await write('nokey.yaml', kubeconfig('    client-certificate: pki/node.crt\n    client-key: /nonexistent/y.key'));
  expectInvalid(() => loadKubeconfig(p), `kubeconfig ${p}: users[0].user.client-key: file /nonexistent/y.key not found`);
});

test('current-context that does not exist', async () => {
  const p = await write('noctx.yaml', kubeconfig('    token: x', undefined).replace('current-context: ctx1', 'current-context: foo'));
  expectInvalid(() => loadKubeconfig(p), `kubeconfig ${p}: current-context: context "foo" not found`);
  const q = await write('unsetctx.yaml', kubeconfig('    token: x').replace('current-context: ctx1', ''));
  expectInvalid(() => loadKubeconfig(q), 'current-context: not set');
});

test('YAML syntax error reports the line', async () => {
  const p = await write('bad.yaml', 'apiVersion: v1\nclusters:\n- name: c1\n  cluster: {server: "https://x\n  bad: [\n');
  expectInvalid(() => loadKubeconfig(p), `kubeconfig ${p}: invalid YAML:`, /line \d+/);
});

test('client key that does not match the certificate', async () => {
  const p = await write('mismatch.yaml', kubeconfig(`    client-certificate: pki/node.crt\n    client-key: ${other.keyPath}`));
  expectInvalid(() => loadKubeconfig(p), 'users[0].user.client-key: does not match the client certificate');
});

test('certificate without key, bad server URL, bad CA data, unsupported exec, missing file', async () => {
  expectInvalid(() => loadKubeconfig(join(dir, 'absent.yaml')), 'absent.yaml: file not found');
  const a = await write('certonly.yaml', kubeconfig('    client-certificate: pki/node.crt'));
  expectInvalid(() => loadKubeconfig(a), 'users[0].user.client-key: missing');
  const b = await write('badserver.yaml', kubeconfig('    token: x', '    server: 127.0.0.1:6443'));
  expectInvalid(() => loadKubeconfig(b), 'clusters[0].cluster.server:');
  const c = await write('badca.yaml', kubeconfig('    token: x', `    server: https://h:1\n    certificate-authority-data: ${b64('not a cert')}`));
  expectInvalid(() => loadKubeconfig(c), 'clusters[0].cluster.certificate-authority-data: no PEM certificate found');
  const d = await write('exec.yaml', kubeconfig('    exec:\n      command: aws'));
  expectInvalid(() => loadKubeconfig(d), 'users[0].user.exec: credential plugins are not supported');
  const e = await write('nocluster.yaml', kubeconfig('    token: x').replace('    cluster: c1', '    cluster: c9'));
  expectInvalid(() => loadKubeconfig(e), 'contexts[0].context.cluster: cluster "c9" not found');
  const f = await write('notmap.yaml', '- a\n- b\n');
  expectInvalid(() => loadKubeconfig(f), 'must be a mapping');
});

test('inClusterConnection reads env, CA and a rotating token', async () => {
  const sa = join(dir, 'sa');
  await mkdir(sa, { recursive: true });
  await writeFile(join(sa, 'ca.crt'), ca.certPem);
  await writeFile(join(sa, 'token'), 'tok-1');
  await writeFile(join(sa, 'namespace'), 'kube-system');
  const conn = inClusterConnection({ dir: sa, env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' } });
  assert.equal(conn.server, 'https://[fd00::1]:443');
  assert.equal(conn.namespace, 'kube-system');
  assert.equal(conn.bearerToken?.(), 'tok-1');
  await writeFile(join(sa, 'token'), 'tok-2-rotated');
  await utimes(join(sa, 'token'), new Date(), new Date(Date.now() + 5000));
  assert.equal(conn.bearerToken?.(), 'tok-2-rotated');
  assert.throws(() => inClusterConnection({ dir: sa, env: {} }), (err: unknown) =>
    err instanceof DockerletError && err.code === ErrorCodes.KUBECONFIG_INVALID && /KUBERNETES_SERVICE_HOST: not set/.test(err.message));
  assert.throws(() => inClusterConnection({ dir: join(dir, 'nosa'), env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' } }),
    /ca\.crt: not found/);
});
