// Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource), parsed exactly as
// rationals with BigInt. Conversions round up (away from zero), as Quantity.Value()/MilliValue() do.
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

/** An exact quantity value num/den (den > 0). */
export interface Quantity {
  num: bigint;
  den: bigint;
}

export const QUANTITY_FORMAT_ERROR =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
export const QUANTITY_SUFFIX_ERROR = "unable to parse quantity's suffix";

const DECIMAL_SUFFIXES: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
// Number part, then the suffix: letters from the upstream set, an optional sign, digits.
const SHAPE = /^([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const MAX_EXPONENT = 1000; // guards BigInt blow-up on absurd exponents such as 1e999999999

function fail(input: string, why: string): never {
  throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, `invalid quantity ${JSON.stringify(input)}: ${why}`, {
    details: { quantity: input },
  });
}

/** Parses a quantity ("100m", "0.5", "128Mi", "1e3", "500M"); JSON numbers are accepted too. */
export function parseQuantity(input: string | number): Quantity {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) fail(String(input), QUANTITY_FORMAT_ERROR);
    input = String(input);
  }
  const str = input;
  if (str.length === 0) fail(str, QUANTITY_FORMAT_ERROR);
  const m = SHAPE.exec(str);
  if (!m) fail(str, QUANTITY_FORMAT_ERROR);
  const [, sign = '', whole = '', frac = '', suffix = ''] = m;
  if (whole.length + frac.length === 0) fail(str, QUANTITY_FORMAT_ERROR);

  let num = BigInt((whole || '0') + frac);
  let den = 10n ** BigInt(frac.length);
  if (sign === '-') num = -num;

  let pow10: number | undefined;
  let pow2: number | undefined;
  if (suffix in DECIMAL_SUFFIXES) pow10 = DECIMAL_SUFFIXES[suffix];
  else if (suffix in BINARY_SUFFIXES) pow2 = BINARY_SUFFIXES[suffix];
  else if ((suffix[0] === 'e' || suffix[0] === 'E') && /^[+-]?[0-9]+$/.test(suffix.slice(1))) {
    pow10 = Number.parseInt(suffix.slice(1), 10);
    if (Math.abs(pow10) > MAX_EXPONENT) fail(str, 'exponent out of range');
  } else {
    fail(str, QUANTITY_SUFFIX_ERROR);
  }
  if (pow10 !== undefined) {
    if (pow10 >= 0) num *= 10n ** BigInt(pow10);
    else den *= 10n ** BigInt(-pow10);
  }
  if (pow2 !== undefined) num *= 2n ** BigInt(pow2);
  return normalize(num, den);
}

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function normalize(num: bigint, den: bigint): Quantity {
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const g = gcd(num, den);
  return g > 1n ? { num: num / g, den: den / g } : { num, den };
}

/** num/den rounded up away from zero (the apimachinery rounding for scaled values). */
export function ceilRatio(num: bigint, den: bigint): bigint {
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const neg = num < 0n;
  const a = neg ? -num : num;
  const q = a / den + (a % den === 0n ? 0n : 1n);
  return neg ? -q : q;
}

function toNumber(v: bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    // Beyond 2^53 the exact value is not representable; saturate like int64 conversions do.
    return v > 0n ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  }
  return n;
}

/** Quantity.MilliValue(): value × 1000, rounded up. */
export function milliValue(q: Quantity | string | number): number {
  const v = typeof q === 'object' ? q : parseQuantity(q);
  return toNumber(ceilRatio(v.num * 1000n, v.den));
}

/** Quantity.Value(): integer value, rounded up. */
export function value(q: Quantity | string | number): number {
  const v = typeof q === 'object' ? q : parseQuantity(q);
  return toNumber(ceilRatio(v.num, v.den));
}

/** CPU in millicores; 0 when unset. */
export function cpuMillis(q: string | number | undefined): number {
  return q === undefined ? 0 : milliValue(q);
}

/** Memory (or storage) in bytes; 0 when unset. */
export function bytesOf(q: string | number | undefined): number {
  return q === undefined ? 0 : value(q);
}

/** -1, 0 or 1 as a < b, a == b, a > b. */
export function compareQuantity(a: Quantity, b: Quantity): -1 | 0 | 1 {
  const l = a.num * b.den;
  const r = b.num * a.den;
  return l < r ? -1 : l > r ? 1 : 0;
}

export function addQuantity(a: Quantity, b: Quantity): Quantity {
  return normalize(a.num * b.den + b.num * a.den, a.den * b.den);
}

export const ZERO: Quantity = Object.freeze({ num: 0n, den: 1n }) as Quantity;

/** ceil(a / b) as an integer (downward API divisor semantics); b must be non-zero. */
export function divideCeil(a: Quantity, b: Quantity): bigint {
  if (b.num === 0n) throw new DockerletError(ErrorCodes.CONTAINER_CONFIG, 'quantity divisor must not be zero');
  return ceilRatio(a.num * b.den, a.den * b.num);
}

/** A quantity from an integer count of millis (e.g. node allocatable CPU). */
export function fromMillis(m: number): Quantity {
  return normalize(BigInt(Math.trunc(m)), 1000n);
}

/** A quantity from an integer value (e.g. bytes). */
export function fromInteger(n: number): Quantity {
  return { num: BigInt(Math.trunc(n)), den: 1n };
}
