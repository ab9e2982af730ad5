// PKCS#10 certificate requests (RFC 2986) as client-go's certutil.MakeCSR builds them for the
// kubelet's client certificate: subject O=system:nodes, CN=system:node:<name>, an ECDSA P-256 key
// (keyutil.MakeEllipticPrivateKeyPEM), SHA-256 signature, optional SANs in an extensionRequest.
import { createHash, createPublicKey, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, explicit, implicit, integer, ipBytes, OID, octets, oid, pem, seq, set, tlv, x501Name } from './der.js';

export interface CsrSubject {
  commonName: string;
  organizations?: readonly string[];
  /** DNS names and IP literals (serving certificates); none for client certificates. */
  sans?: readonly string[];
}

/** A new ECDSA P-256 private key (the kubelet's choice), PEM "EC PRIVATE KEY" as upstream writes it. */
export function generateNodeKey(): { key: KeyObject; pem: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { key: privateKey, pem: privateKey.export({ type: 'sec1', format: 'pem' }).toString() };
}

function sanExtension(sans: readonly string[]): Buffer {
  const names = sans.map((s) => (isIP(s) ? implicit(7, ipBytes(s)) : implicit(2, Buffer.from(s, 'ascii'))));
  return seq(oid(OID.subjectAltName), octets(seq(...names)));
}

/** The PEM "CERTIFICATE REQUEST" for `subject`, signed with `key` (EC → ecdsa-with-SHA256, RSA → sha256WithRSA). */
export function createCsr(key: KeyObject, subject: CsrSubject): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const attrs = subject.sans?.length
    ? explicit(0, seq(oid(OID.extensionRequest), set(seq(sanExtension(subject.sans)))))
    : tlv(0xa0);
  const info = seq(integer(0), x501Name(subject.commonName, subject.organizations ?? []), spki, attrs);
  const isEc = key.asymmetricKeyType === 'ec';
  const algorithm = isEc ? seq(oid(OID.ecdsaWithSHA256)) : seq(oid(OID.sha256WithRSA), Buffer.from([0x05, 0x00]));
  const signature = sign('sha256', info, key);
  return pem('CERTIFICATE REQUEST', seq(info, algorithm, bitString(signature)));
}

/** kubeadm's discovery hash: "sha256:" + hex SHA-256 of the certificate's DER SubjectPublicKeyInfo. */
export function publicKeyPinHash(cert: X509Certificate): string {
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** Every certificate in a PEM bundle. */
export function parseCertBundle(pemText: string): X509Certificate[] {
  const blocks = pemText.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}
