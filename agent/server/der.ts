// The X.509 pieces the kubelet API's serving certificates need on top of the shared DER (X.690)
// encoder in kube/certificates/der.ts: validity times, names, extensions and subjectAltNames (RFC 5280).
import { isIP } from 'node:net';
import { ipBytes, octets, oid, seq, tlv, x501Name } from '../../kube/certificates/der.js';

export { bitString, explicit, integer, ipBytes, octets, oid, pem, seq, set, tlv, utf8 } from '../../kube/certificates/der.js';

/** UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5). */
export function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

export function name(cn: string, org?: string): Buffer {
  return x501Name(cn, org ? [org] : []);
}

export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), octets(value));
}

/** A subjectAltName extension value for DNS names and IP literals. */
export function subjectAltNames(sans: readonly string[]): Buffer {
  const names = [...new Set(sans.filter(Boolean))].map((s) => (isIP(s) ? tlv(0x87, ipBytes(s)) : tlv(0x82, Buffer.from(s, 'ascii'))));
  return seq(...names);
}

export const ECDSA_SHA256 = '1.2.840.10045.4.3.2';
