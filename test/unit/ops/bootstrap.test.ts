// Node TLS bootstrap pieces without a cluster: bootstrap token format, the detached HS256 JWS of
// cluster-info (tampering, alg confusion, another token), the CA pin hash against openssl's, the
// PKCS#10 request against `openssl req -verify`, the 70–90 % rotation deadline, and the certificate
// store's files (0600, -current switched, old files pruned).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { checkClusterInfo } from '../../../kube/bootstrap/discovery.js';
import { nextRotationDeadline } from '../../../kube/bootstrap/rotation.js';
import { computeDetachedSignature, detachedSignatureValid, parseBootstrapToken } from '../../../kube/bootstrap/token.js';
import { createCsr, generateNodeKey, publicKeyPinHash } from '../../../kube/certificates/csr.js';
import { CertificateStore } from '../../../kube/certificates/store.js';

const token = parseBootstrapToken('abcdef.0123456789abcdef');

function selfSigned(dir: string, cn: string, days = 1): { cert: string; key: string } {
  const key = join(dir, `${cn}.key`);
  const cert = join(dir, `${cn}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${cn}`, '-days', String(days)], { stdio: 'ignore' });
  return { cert: execFileSync('cat', [cert]).toString(), key: execFileSync('cat', [key]).toString() };
}

test('bootstrap tokens are [a-z0-9]{6}.[a-z0-9]{16}', () => {
  assert.deepEqual(token, { id: 'abcdef', secret: '0123456789abcdef' });
  for (const bad of ['abcdef0123456789abcdef', 'ABCDEF.0123456789abcdef', 'abcde.0123456789abcdef', 'abcdef.0123456789abcde']) {
    assert.throws(() => parseBootstrapToken(bad), /bootstrap token/);
  }
});

test('detached JWS: valid for its content and token only; alg none and other keys are refused', () => {
  const content = 'apiVersion: v1\nkind: Config\n';
  const sig = computeDetachedSignature(content, token);
  assert.match(sig, /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+$/);
  // go-jose's protected header for HS256 with a kid
  assert.equal(Buffer.from(sig.split('.')[0]!, 'base64url').toString(), '{"alg":"HS256","kid":"abcdef"}');
  assert.equal(detachedSignatureValid(sig, content, token), true);
  assert.equal(detachedSignatureValid(sig, `${content} `, token), false, 'content changed');
  assert.equal(detachedSignatureValid(sig, content, { id: 'abcdef', secret: 'fedcba9876543210' }), false, 'another secret');
  assert.equal(detachedSignatureValid(sig, content, { id: 'zzzzzz', secret: token.secret }), false, 'another kid');
  const none = `${Buffer.from('{"alg":"none","kid":"abcdef"}').toString('base64url')}..`;
  assert.equal(detachedSignatureValid(none, content, token), false);
  assert.equal(detachedSignatureValid(sig.replace('..', '.x.'), content, token), false, 'not detached');
});

test('cluster-info: the CA pin is the SHA-256 of its SubjectPublicKeyInfo (openssl agrees); wrong pins and signatures fail', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-unit-'));
  try {
    const ca = selfSigned(dir, 'ca');
    const openssl = execFileSync('sh', ['-c', `openssl x509 -pubkey -noout -in ${join(dir, 'ca.crt')} | openssl pkey -pubin -outform der | sha256sum`]).toString().split(' ')[0];
    const pin = publicKeyPinHash(new X509Certificate(ca.cert));
    assert.equal(pin, `sha256:${openssl}`);
    const kubeconfig = stringify({ clusters: [{ name: '', cluster: { server: 'https://10.0.0.1:6443/', 'certificate-authority-data': Buffer.from(ca.cert).toString('base64') } }] });
    const cm = { data: { kubeconfig, 'jws-kubeconfig-abcdef': computeDetachedSignature(kubeconfig, token) } };
    const ok = checkClusterInfo(cm, token, [pin]);
    assert.equal(ok.server, 'https://10.0.0.1:6443');
    assert.equal(ok.caPem, ca.cert);
    assert.throws(() => checkClusterInfo(cm, token, [`sha256:${'1'.repeat(64)}`]), new RegExp(`not pinned: its public key hash is ${pin}`));
    assert.throws(() => checkClusterInfo({ data: { kubeconfig } }, token, [pin]), /no JWS signed token .* "abcdef"/);
    const forged = { data: { ...cm.data, kubeconfig: kubeconfig.replace('10.0.0.1', '10.6.6.6') } };
    assert.throws(() => checkClusterInfo(forged, token, [pin]), /failed to verify JWS signature/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the PKCS#10 request verifies with openssl and names the node subject and SANs', () => {
  const { key } = generateNodeKey();
  const pem = createCsr(key, { commonName: 'system:node:n1', organizations: ['system:nodes'], sans: ['n1.example', '192.0.2.7', 'fd00::1'] });
  const out = execFileSync('openssl', ['req', '-verify', '-noout', '-text'], { input: pem, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  assert.match(out, /Subject: O ?= ?system:nodes, CN ?= ?system:node:n1/);
  assert.match(out, /DNS:n1\.example, IP Address:192\.0\.2\.7, IP Address:FD00:0:0:0:0:0:0:1/i);
  assert.match(out, /ecdsa-with-SHA256/);
  const plain = createCsr(key, { commonName: 'system:node:n1', organizations: ['system:nodes'] });
  assert.doesNotMatch(execFileSync('openssl', ['req', '-verify', '-noout', '-text'], { input: plain, stdio: ['pipe', 'pipe', 'pipe'] }).toString(), /Alternative Name/);
});

test('rotation deadline: NotBefore + 70–90 % of the lifetime, jittered', () => {
  const cert = { validFrom: 'Jan  1 00:00:00 2030 GMT', validTo: 'Jan 11 00:00:00 2030 GMT' };
  const from = Date.parse(cert.validFrom);
  const life = Date.parse(cert.validTo) - from;
  assert.equal(nextRotationDeadline(cert, () => 0), from + life * 0.7);
  assert.equal(nextRotationDeadline(cert, () => 0.5), from + life * 0.8);
  const all = Array.from({ length: 200 }, () => (nextRotationDeadline(cert) - from) / life);
  assert.ok(all.every((f) => f >= 0.7 && f < 0.9));
  assert.ok(new Set(all).size > 100, 'jittered');
});

test('certificate store: 0600 dated files, -current switched atomically, bad pairs refused, old files pruned', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-store-'));
  try {
    const store = new CertificateStore(join(dir, 'pki'));
    assert.equal(store.current(), undefined);
    const a = selfSigned(dir, 'a');
    const bb = selfSigned(dir, 'b');
    assert.throws(() => store.update(a.cert, bb.key), /refusing to store a bad pair/);
    const t0 = new Date('2030-01-01T00:00:00Z');
    const f1 = store.update(a.cert, a.key, t0);
    assert.match(f1, /kubelet-client-2030-01-01-00-00-00\.pem$/);
    assert.equal(statSync(f1).mode & 0o777, 0o600);
    assert.ok(lstatSync(store.currentPath).isSymbolicLink());
    assert.match(store.current()!.cert.subject, /CN=a/);
    store.update(bb.cert, bb.key, new Date('2030-01-02T00:00:00Z'));
    const f3 = store.update(a.cert, a.key, new Date('2030-01-03T00:00:00Z'));
    assert.equal(readlinkSync(store.currentPath), 'kubelet-client-2030-01-03-00-00-00.pem');
    assert.deepEqual(store.prune(2), ['kubelet-client-2030-01-01-00-00-00.pem']);
    assert.deepEqual(readdirSync(join(dir, 'pki')).sort(), ['kubelet-client-2030-01-02-00-00-00.pem', 'kubelet-client-2030-01-03-00-00-00.pem', 'kubelet-client-current.pem']);
    assert.equal(store.current()!.path, store.currentPath);
    assert.ok(f3.endsWith('03-00-00-00.pem'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
