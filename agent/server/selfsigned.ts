// A self-signed X.509 serving certificate (ECDSA P-256, SHA-256), as the kubelet makes one when it
// is given no --tls-cert-file (client-go util/cert GenerateSelfSignedCertKey: CN <host>@<unix time>,
// serverAuth, the node's DNS names and IPs as SANs).
import { createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { bitString, ECDSA_SHA256, explicit, extension, integer, name, oid, pem, seq, subjectAltNames, time } from './der.js';

export interface SelfSignedOptions {
  commonName: string;
  /** DNS names and IP literals for subjectAltName. */
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  key?: KeyObject;
}

/** A self-signed serverAuth certificate and its key, both PEM. */
export function selfSignedCertificate(opts: SelfSignedOptions): { certPem: string; keyPem: string } {
  const key = opts.key ?? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const alg = seq(oid(ECDSA_SHA256));
  const subject = name(opts.commonName);
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f;
  const extensions = [
    extension('2.5.29.15', true, bitString(Buffer.from([0x80]))), // keyUsage: digitalSignature
    extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
    extension('2.5.29.19', true, seq()), // basicConstraints: CA false
    ...(opts.sans.length > 0 ? [extension('2.5.29.17', false, subjectAltNames(opts.sans))] : []),
  ];
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    alg,
    subject,
    seq(time(opts.notBefore), time(opts.notAfter)),
    subject,
    spki,
    explicit(3, seq(...extensions)),
  );
  const der = seq(tbs, alg, bitString(sign('sha256', tbs, key)));
  return { certPem: pem('CERTIFICATE', der), keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
