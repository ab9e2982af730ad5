// Serving certificates: the self-signed one (DER encoder checked by Node's X509 parser and OpenSSL's
// signature check), its reuse and replacement when the node's names change, explicit files, the
// kubelet-serving CSR, and the renewal point of a rotated certificate.
import assert from 'node:assert/strict';
import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { renewAt } from '../../../agent/server/cert-bootstrap.js';
import { servingCsr } from '../../../agent/server/csr.js';
import { selfSignedCertificate } from '../../../agent/server/selfsigned.js';
import { certCovers, loadServingCert } from '../../../agent/server/serving-cert.js';
import { FakeClock } from '../../../lib/clock.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';

test('a self-signed certificate: names, validity, serverAuth, self-verifying', () => {
  const now = Date.UTC(2030, 0, 1);
  const { certPem } = selfSignedCertificate({ commonName: 'h@1', sans: ['node-a', '10.0.0.7', '::1'], notBefore: new Date(now), notAfter: new Date(now + 86_400_000 * 365) });
  const c = new X509Certificate(certPem);
  assert.equal(c.subject, 'CN=h@1');
  assert.equal(c.subjectAltName, 'DNS:node-a, IP Address:10.0.0.7, IP Address:0:0:0:0:0:0:0:1');
  assert.deepEqual(c.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.ok(c.verify(c.publicKey));
  assert.equal(Date.parse(c.validFrom), now);
  // 2050 and later need GeneralizedTime.
  const late = new X509Certificate(selfSignedCertificate({ commonName: 'x', sans: [], notBefore: new Date(Date.UTC(2049, 0, 1)), notAfter: new Date(Date.UTC(2051, 5, 1)) }).certPem);
  assert.equal(new Date(late.validTo).getUTCFullYear(), 2051);
});

test('the stored self-signed pair is reused, and replaced when a name is missing or it expires', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dkl-cert-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new FakeClock(Date.now());
  const base = { certDir: dir, host: 'h', clock };
  const a = await loadServingCert({ ...base, sans: ['n1', '10.0.0.1'] });
  assert.equal(a.source, 'generated');
  assert.equal(statSync(join(dir, 'kubelet.key')).mode & 0o777, 0o600);
  const b = await loadServingCert({ ...base, sans: ['n1'] });
  assert.deepEqual([b.source, b.certPem], ['self-signed', a.certPem]);
  const c = await loadServingCert({ ...base, sans: ['n1', '10.0.0.2'] });
  assert.equal(c.source, 'generated', 'a new node IP gets a new certificate');
  assert.ok(certCovers(c.certPem, ['n1', '10.0.0.2'], clock.now()));
  assert.equal(certCovers(c.certPem, ['n1'], clock.now() + 366 * 86_400_000), false, 'expired');
});

test('explicit files: both or neither, readable, PEM; errors name the field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dkl-cert-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new FakeClock();
  const base = { certDir: dir, host: 'h', clock, sans: [] };
  await assert.rejects(loadServingCert({ ...base, tlsCertFile: '/x' }), (e) => isCode(e, ErrorCodes.CONFIG_INVALID));
  await assert.rejects(loadServingCert({ ...base, tlsCertFile: join(dir, 'no.crt'), tlsPrivateKeyFile: join(dir, 'no.key') }), /tlsCertFile: cannot read/);
  writeFileSync(join(dir, 'bad.crt'), 'junk');
  writeFileSync(join(dir, 'k.key'), 'junk');
  await assert.rejects(loadServingCert({ ...base, tlsCertFile: join(dir, 'bad.crt'), tlsPrivateKeyFile: join(dir, 'k.key') }), /is not a PEM certificate/);
});

test('the kubelet-serving CSR carries the node identity and names, signed by its key', () => {
  const { csrPem, key } = servingCsr('node-a', ['node-a', '10.0.0.7']);
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const text = der.toString('latin1');
  assert.ok(text.includes('system:nodes') && text.includes('system:node:node-a') && text.includes('node-a'));
  // CertificationRequest = SEQUENCE { info, alg, BIT STRING sig }: verify sig over info.
  const infoStart = 2 + (der[1]! & 0x80 ? der[1]! & 0x7f : 0);
  const infoLen = der[infoStart + 1]! & 0x80 ? der.readUIntBE(infoStart + 2, der[infoStart + 1]! & 0x7f) : der[infoStart + 1]!;
  const infoHdr = 2 + (der[infoStart + 1]! & 0x80 ? der[infoStart + 1]! & 0x7f : 0);
  const info = der.subarray(infoStart, infoStart + infoHdr + infoLen);
  const rest = der.subarray(infoStart + infoHdr + infoLen);
  const sig = rest.subarray(rest.indexOf(0x03, 12) + 3);
  assert.ok(verify('sha256', info, createPublicKey(key), sig));
});

test('renewal falls in 70–90 % of the lifetime', () => {
  const from = Date.UTC(2030, 0, 1);
  const { certPem } = selfSignedCertificate({ commonName: 'x', sans: [], notBefore: new Date(from), notAfter: new Date(from + 1000 * 86_400_000) });
  assert.equal(renewAt(certPem, 0), from + 700 * 86_400_000);
  assert.equal(renewAt(certPem, 1), from + 900 * 86_400_000);
});
