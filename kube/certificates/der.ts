// A minimal DER (X.690) encoder: the few ASN.1 types PKCS#10 requests and X.509 names need.
// Node has key generation and signing (node:crypto) but no builder for these structures.
import { isIP } from 'node:net';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One tag-length-value; content buffers are concatenated. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

export const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
export const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);
export const octets = (b: Buffer): Buffer => tlv(0x04, b);
/** A BIT STRING with no unused bits. */
export const bitString = (b: Buffer): Buffer => tlv(0x03, Buffer.from([0]), b);
export const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
export const nul = (): Buffer => Buffer.from([0x05, 0x00]);
export const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
/** [n] EXPLICIT (constructed, context-specific). */
export const explicit = (n: number, c: Buffer): Buffer => tlv(0xa0 | n, c);
/** [n] IMPLICIT primitive (e.g. GeneralName dNSName [2], iPAddress [7]). */
export const implicit = (n: number, c: Buffer): Buffer => tlv(0x80 | n, c);

/** A non-negative INTEGER from big-endian bytes (minimal encoding, sign byte when needed). */
export function integer(b: Buffer | number): Buffer {
  const buf = typeof b === 'number' ? Buffer.from([b]) : b;
  let i = 0;
  while (i < buf.length - 1 && buf[i] === 0 && ((buf[i + 1] ?? 0) & 0x80) === 0) i++;
  const v = buf.subarray(i);
  return tlv(0x02, ((v[0] ?? 0) & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

export const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
} as const;

/** An X.501 Name: one RDN per organization (in order), then the CN (as Go's pkix.Name marshals them). */
export function x501Name(commonName: string, organizations: readonly string[] = []): Buffer {
  const rdn = (id: string, v: string) => set(seq(oid(id), utf8(v)));
  return seq(...organizations.map((o) => rdn(OID.organization, o)), rdn(OID.commonName, commonName));
}

/** IPv4/IPv6 literal → its 4/16 address bytes. */
export function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head, tail] = ip.includes('::') ? (ip.split('::') as [string, string]) : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

/** PEM armour for DER bytes. */
export function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
