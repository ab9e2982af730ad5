// Load generators for the proxy benchmark: iperf3 (JSON) and wrk (text), with pure parsers.
import { run } from './proc.js';

export interface IperfResult {
  gbps: number;
}

export function parseIperfJson(json: string): IperfResult {
  const j = JSON.parse(json) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const bps = j.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number') throw new Error('iperf3: no sum_received in output');
  return { gbps: bps / 1e9 };
}

/** One iperf3 client run; retries (bounded) while the server still finishes a previous test. */
export async function iperf(port: number, streams: number, seconds: number): Promise<IperfResult> {
  for (let attempt = 1; ; attempt++) {
    const out = await run('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-P', String(streams), '-t', String(seconds), '-J'], (seconds + 20) * 1000)
      .catch((err: { stdout?: string }) => err.stdout ?? '{"error":"iperf3 failed"}');
    try {
      return parseIperfJson(out);
    } catch (err) {
      if (attempt >= 5 || !/busy/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function toMs(v: string, unit: string): number {
  const n = Number(v);
  if (unit === 'us') return n / 1000;
  if (unit === 's') return n * 1000;
  if (unit === 'm') return n * 60_000;
  return n;
}

/** Parses `wrk --latency` output. */
export function parseWrk(text: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  if (!Number.isFinite(rps)) throw new Error(`wrk: no Requests/sec in output: ${text.slice(0, 400)}`);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    return m ? toMs(m[1]!, m[2]!) : NaN;
  };
  let errors = 0;
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (se) errors += Number(se[1]) + Number(se[2]) + Number(se[3]) + Number(se[4]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (non2xx) errors += Number(non2xx[1]);
  return { rps, p50Ms: pct('50'), p99Ms: pct('99'), errors };
}

export async function wrk(port: number, opts: { seconds: number; connections: number; threads: number; close?: boolean }): Promise<WrkResult> {
  const args = ['-t', String(opts.threads), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--latency', '--timeout', '2s'];
  if (opts.close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}/`);
  return parseWrk(await run('wrk', args, (opts.seconds + 20) * 1000));
}
