// Logs a person can read: `--log-format text` (or auto on a terminal) turns pino's JSON lines into
// "time LEVEL component pod=… container=… message key=value…" lines, the pod and container first, as
// pino-pretty would but without a dependency or a worker thread. JSON stays the default for services
// (journald and log shippers parse it).
import { Writable } from 'node:stream';

export type LogFormat = 'json' | 'text';

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'], 20: ['DEBUG', '\x1b[36m'], 30: ['INFO', '\x1b[32m'],
  40: ['WARN', '\x1b[33m'], 50: ['ERROR', '\x1b[31m'], 60: ['FATAL', '\x1b[35m'],
};
/** Shown in their own places, not as key=value. */
const PLACED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'pod', 'container', 'err']);

/** 'auto' → text when stdout is a terminal (a person is watching), else JSON. */
export function resolveLogFormat(flag: string | undefined, isTTY: boolean | undefined): LogFormat {
  if (flag === undefined || flag === 'auto') return isTTY ? 'text' : 'json';
  if (flag === 'json' || flag === 'text') return flag;
  throw new Error(`flag --log-format: expected json, text or auto, got "${flag}"`);
}

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return JSON.stringify(v);
}

/** One pino JSON record → one readable line (no trailing newline). Lines that are not JSON pass through. */
export function formatRecord(line: string, color = false): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (r === null || typeof r !== 'object') return line;
  const [name, tint] = LEVELS[Number(r.level)] ?? [String(r.level ?? '?').toUpperCase(), ''];
  const paint = (s: string) => (color && tint ? `${tint}${s}\x1b[0m` : s);
  const time = typeof r.time === 'string' ? r.time.replace(/^\d{4}-\d\d-\d\dT/, '').replace(/Z$/, '') : typeof r.time === 'number' ? new Date(r.time).toISOString().slice(11, 23) : '';
  const parts = [time, paint(name.padEnd(5))];
  if (r.component !== undefined) parts.push(`[${String(r.component)}]`);
  if (r.pod !== undefined) parts.push(`pod=${value(r.pod)}`);
  if (r.container !== undefined) parts.push(`container=${value(r.container)}`);
  if (r.msg !== undefined) parts.push(String(r.msg));
  for (const [k, v] of Object.entries(r)) if (!PLACED.has(k) && v !== undefined) parts.push(`${k}=${value(v)}`);
  const err = r.err as { message?: string; code?: string; stack?: string } | undefined;
  if (err && typeof err === 'object') {
    parts.push(`err=${value(`${err.code ? `${err.code}: ` : ''}${err.message ?? ''}`)}`);
    if (Number(r.level) >= 50 && err.stack) return `${parts.filter(Boolean).join(' ')}\n    ${err.stack.split('\n').slice(1).map((s) => s.trim()).join('\n    ')}`;
  }
  return parts.filter(Boolean).join(' ');
}

/** A pino destination that writes readable lines to `out` (default stdout). */
export class TextLogStream extends Writable {
  #rest = '';
  constructor(private readonly out: NodeJS.WritableStream = process.stdout, private readonly color = (out as { isTTY?: boolean }).isTTY === true) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const text = this.#rest + chunk.toString();
    const lines = text.split('\n');
    this.#rest = lines.pop() ?? '';
    const out = lines.filter((l) => l.length > 0).map((l) => `${formatRecord(l, this.color)}\n`).join('');
    if (out) this.out.write(out);
    cb();
  }
  override _final(cb: (err?: Error | null) => void): void {
    if (this.#rest) this.out.write(`${formatRecord(this.#rest, this.color)}\n`);
    cb();
  }
}
