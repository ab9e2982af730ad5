// A small writer for the Prometheus text exposition format 0.0.4 (# HELP, # TYPE, samples with
// escaped label values and optional millisecond timestamps). Hand-written instead of prom-client
// objects because a scrape formats hundreds of series from a snapshot: no per-series objects.

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'untyped';

/** Escapes a label value (backslash, double quote, newline). */
export function escapeLabel(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** `{a="x",b="y"}` from pairs in the given order ('' when there are none). */
export function labels(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return '';
  let s = '{';
  for (let i = 0; i < pairs.length; i++) {
    const [k, v] = pairs[i]!;
    s += `${i ? ',' : ''}${k}="${escapeLabel(v)}"`;
  }
  return `${s}}`;
}

/** Appends extra pairs to a label string made by labels(). */
export function withLabels(base: string, extra: readonly (readonly [string, string])[]): string {
  if (extra.length === 0) return base;
  const more = labels(extra).slice(1);
  return base === '' ? `{${more}` : `${base.slice(0, -1)},${more}`;
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/**
 * Sanitizes a label name as cAdvisor does for container_label_* ([^a-zA-Z0-9_] → '_'), and writes
 * camelCase as snake_case (fooBar → foo_bar), which `promtool check metrics` demands of label names.
 */
export function sanitizeName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

export class TextWriter {
  #parts: string[] = [];
  #family: string | undefined;
  #pendingHeader: string | undefined;

  /** Starts a family; its header is written with the first sample (families without samples vanish). */
  family(name: string, type: MetricType, help: string): this {
    this.#family = name;
    this.#pendingHeader = `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`;
    return this;
  }

  /** One sample of the current family; `labelText` from labels(); `ts` epoch ms. */
  sample(labelText: string, value: number, ts?: number): this {
    if (this.#pendingHeader) {
      this.#parts.push(this.#pendingHeader);
      this.#pendingHeader = undefined;
    }
    this.#parts.push(`${this.#family}${labelText} ${formatValue(value)}${ts === undefined ? '' : ` ${Math.round(ts)}`}\n`);
    return this;
  }

  toString(): string {
    return this.#parts.join('');
  }
}
