// /containerLogs query → v1.PodLogOptions, as the kubelet decodes and validates it
// (pkg/kubelet/server/server.go getContainerLogs: the legacy `tail` mapped to tailLines, `tail=all` =
// no limit; decoding failures → 400, ValidatePodLogOptions failures → 422). Stricter than upstream in
// one way: a boolean must be true/false/1/0 (upstream reads any other text as true), so junk is a 400
// naming the parameter instead of a silent follow.
import { DockerletError, ErrorCodes, isCode } from '../../../lib/errors.js';

export interface PodLogOptions {
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  sinceSeconds?: number;
  sinceTime?: string;
  tailLines?: number;
  limitBytes?: number;
  stream?: 'All' | 'Stdout' | 'Stderr';
}

export type ParsedLogOptions = { ok: true; options: PodLogOptions } | { ok: false; status: 400 | 422; message: string };

type Query = Record<string, string | string[] | undefined>;

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const INT = /^[+-]?\d{1,18}$/;

/** A query parameter that cannot be decoded (BAD_REQUEST; answered 400). */
function decodeError(message: string): DockerletError {
  return new DockerletError(ErrorCodes.BAD_REQUEST, message);
}

function first(q: Query, name: string): string | undefined {
  const v = q[name];
  return Array.isArray(v) ? v[0] : v;
}

function bool(q: Query, name: string): boolean {
  const v = first(q, name);
  if (v === undefined) return false;
  const s = v.toLowerCase();
  if (s === '' || s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw decodeError(`${name}: ${JSON.stringify(v)} is not a boolean (true or false)`);
}

function int(q: Query, name: string, value = first(q, name)): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!INT.test(value)) throw decodeError(`${name}: ${JSON.stringify(value)} is not an integer`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw decodeError(`${name}: ${JSON.stringify(value)} is out of range`);
  return n;
}

/** Decodes and validates the query; messages name the parameter. */
export function parseLogOptions(q: Query): ParsedLogOptions {
  let o: PodLogOptions;
  try {
    const tail = first(q, 'tail');
    const tailLines = tail !== undefined && tail !== '' ? (tail === 'all' ? undefined : int(q, 'tail', tail)) : int(q, 'tailLines');
    const sinceTime = first(q, 'sinceTime');
    if (sinceTime !== undefined && sinceTime !== '' && (!RFC3339.test(sinceTime) || Number.isNaN(Date.parse(sinceTime)))) {
      throw decodeError(`sinceTime: ${JSON.stringify(sinceTime)} is not an RFC 3339 time (e.g. 2024-01-02T15:04:05Z)`);
    }
    const stream = first(q, 'stream');
    const sinceSeconds = int(q, 'sinceSeconds');
    const limitBytes = int(q, 'limitBytes');
    o = {
      follow: bool(q, 'follow'),
      previous: bool(q, 'previous'),
      timestamps: bool(q, 'timestamps'),
      ...(sinceSeconds !== undefined ? { sinceSeconds } : {}),
      ...(sinceTime ? { sinceTime } : {}),
      ...(tailLines !== undefined ? { tailLines } : {}),
      ...(limitBytes !== undefined ? { limitBytes } : {}),
      ...(stream !== undefined && stream !== '' ? { stream: stream as PodLogOptions['stream'] } : {}),
    };
  } catch (err) {
    if (isCode(err, ErrorCodes.BAD_REQUEST)) return { ok: false, status: 400, message: `Unable to decode query: ${(err as DockerletError).message}` };
    throw err;
  }
  const invalid = validate(o);
  if (invalid) return { ok: false, status: 422, message: `Invalid request: ${invalid}` };
  return { ok: true, options: o };
}

/** ValidatePodLogOptions (pkg/apis/core/validation). */
function validate(o: PodLogOptions): string | undefined {
  if (o.tailLines !== undefined && o.tailLines < 0) return 'tailLines: must be greater than or equal to 0';
  if (o.limitBytes !== undefined && o.limitBytes < 1) return 'limitBytes: must be greater than 0';
  if (o.sinceSeconds !== undefined && o.sinceTime !== undefined) return 'at most one of `sinceTime` or `sinceSeconds` may be specified';
  if (o.sinceSeconds !== undefined && o.sinceSeconds < 1) return 'sinceSeconds: must be greater than 0';
  if (o.stream !== undefined && !['All', 'Stdout', 'Stderr'].includes(o.stream)) return `stream: Unsupported value: ${JSON.stringify(o.stream)}: supported values: "All", "Stderr", "Stdout"`;
  if (o.stream !== undefined && o.stream !== 'All' && o.tailLines !== undefined) return '`tailLines` and specific `stream` are mutually exclusive for now';
  return undefined;
}
