// A PKCS#10 certification request (RFC 2986) for the kubelet's serving certificate, as the kubelet's
// certificate manager makes it (pkg/kubelet/certificate/kubelet.go NewKubeletServerCertificateManager):
// subject O=system:nodes, CN=system:node:<node>, the node's DNS names and IPs as subjectAltName,
// an ECDSA P-256 key, for the kubernetes.io/kubelet-serving signer.
import { createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { bitString, ECDSA_SHA256, extension, integer, name, oid, pem, seq, set, subjectAltNames, tlv } from './der.js';

export interface ServingCsr {
  csrPem: string;
  keyPem: string;
  key: KeyObject;
}

export function servingCsr(nodeName: string, sans: readonly string[], key?: KeyObject): ServingCsr {
  const k = key ?? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const spki = createPublicKey(k).export({ type: 'spki', format: 'der' });
  const extensionRequest = seq(oid('1.2.840.113549.1.9.14'), set(seq(extension('2.5.29.17', false, subjectAltNames(sans)))));
  const info = seq(integer(Buffer.from([0])), name(`system:node:${nodeName}`, 'system:nodes'), spki, tlv(0xa0, extensionRequest));
  const der = seq(info, seq(oid(ECDSA_SHA256)), bitString(sign('sha256', info, k)));
  return { csrPem: pem('CERTIFICATE REQUEST', der), keyPem: k.export({ type: 'pkcs8', format: 'pem' }).toString(), key: k };
}
