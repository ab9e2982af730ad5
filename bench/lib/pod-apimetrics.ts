// apiserver_request_total from the apiserver's /metrics (as admin, via kubectl), summed by
// verb + resource/subresource, so a phase's API traffic can be diffed.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export type RequestCounts = Record<string, number>;

/** Parses the text exposition; keys like "PATCH pods/status". */
export function parseRequestTotals(text: string): RequestCounts {
  const out: RequestCounts = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const m of line.slice(line.indexOf('{') + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!;
    const value = Number(line.slice(close + 1).trim());
    if (!Number.isFinite(value)) continue;
    const key = `${labels.verb ?? '?'} ${labels.resource ?? ''}${labels.subresource ? `/${labels.subresource}` : ''}`;
    out[key] = (out[key] ?? 0) + value;
  }
  return out;
}

export async function scrapeRequestTotals(kubeconfig: string): Promise<RequestCounts | undefined> {
  try {
    const { stdout } = await execFileP('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=20s', 'get', '--raw', '/metrics'], { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
    return parseRequestTotals(stdout);
  } catch {
    return undefined;
  }
}

/** after − before, non-zero entries only, largest first. */
export function diffCounts(before: RequestCounts | undefined, after: RequestCounts | undefined): RequestCounts {
  if (!before || !after) return {};
  const d: [string, number][] = [];
  for (const [k, v] of Object.entries(after)) {
    const x = v - (before[k] ?? 0);
    if (x > 0) d.push([k, x]);
  }
  return Object.fromEntries(d.sort((a, b) => b[1] - a[1]));
}
