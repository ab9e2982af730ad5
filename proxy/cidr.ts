// IPv4 addresses and CIDRs (pure): address checks for the model, ranges for loadBalancerSourceRanges.

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
export function isIPv4(s: string | undefined): s is string {
  return typeof s === 'string' && IPV4.test(s);
}

function toInt(ip: string): number {
  return ip.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
}

function fromInt(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

/** "a.b.c.d/n" (or a bare address, /32) in canonical form (host bits cleared), or undefined when not an IPv4 CIDR. */
export function parseCidr4(s: string): string | undefined {
  const [ip, bits, extra] = s.trim().split('/');
  if (extra !== undefined || !isIPv4(ip)) return undefined;
  const n = bits === undefined ? 32 : /^\d{1,2}$/.test(bits) ? Number(bits) : NaN;
  if (!(n >= 0 && n <= 32)) return undefined;
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return `${fromInt((toInt(ip) & mask) >>> 0)}/${n}`;
}

/** Whether the IPv4 address lies in the (canonical) CIDR. */
export function cidrContains(cidr: string, ip: string): boolean {
  const [base, bits] = cidr.split('/');
  if (!isIPv4(base) || !isIPv4(ip)) return false;
  const n = Number(bits);
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === toInt(base);
}
