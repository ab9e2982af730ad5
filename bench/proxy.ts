// Proxy benchmark: direct (the limit), HAProxy (mode tcp, nbthread 2), the old Go userspace data
// path, and dockerlet's TCP data path, all on 127.0.0.1. Writes bench/results/proxy.json.
// Args/env: --seconds/BENCH_SECONDS (default 5), --rounds/BENCH_ROUNDS (default 1), --variants/BENCH_PROXY_VARIANTS (extra dockerlet variants, e.g.
// "pump,pump+hwm256k"; the first figure set is always the default data path).
import { mkdir, mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir, cpus, release } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureAptPackages, freePort, run, startChild, waitForPort, type Child } from './lib/proc.js';
import { iperf, wrk } from './lib/load.js';
import { groupCpuSeconds } from './lib/cpu.js';
import type { ChildConfig } from './lib/proxy-child.js';
import { resolveDataPath } from '../proxy/native/engine.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** What `dockerlet proxy` runs by default on this machine. */
const DEFAULT_VARIANT = resolveDataPath(undefined).mode;
const root = path.resolve(here, '..');

interface Figures {
  throughput_1stream_gbps: number;
  throughput_4stream_gbps: number;
  keepalive_rps: number;
  keepalive_p50_ms: number;
  keepalive_p99_ms: number;
  newconn_rate: number;
  /** CPU used by the proxy process(es) per keep-alive request / per new connection (µs); 0 for direct. */
  keepalive_cpu_us_per_req: number;
  newconn_cpu_us_per_conn: number;
  errors: number;
}

interface Fronts {
  iperfPort: number;
  httpPort: number;
  /** Process groups of the proxy (for CPU accounting). */
  pgids: number[];
  stop(): Promise<void>;
}

async function goBuild(out: string): Promise<void> {
  const go = process.env.GO ?? (await run('sh', ['-c', 'command -v go || echo /usr/local/go/bin/go'])).trim();
  const dir = path.join(here, 'goproxy');
  await run('sh', ['-c', `cd '${dir}' && '${go}' build -o '${out}/goproxy' . && '${go}' build -o '${out}/httpd' ./httpd`], 300_000);
}

async function withCpu<T extends { rps: number }>(pgids: number[], seconds: number, fn: () => Promise<T>): Promise<[T, number]> {
  const cpu = () => pgids.reduce((a, p) => a + groupCpuSeconds(p), 0);
  const before = cpu();
  const r = await fn();
  const used = cpu() - before;
  return [r, r.rps > 0 ? Math.round((used * 1e6) / (r.rps * seconds)) : 0];
}

async function measure(f: Fronts, seconds: number): Promise<Figures> {
  const one = await iperf(f.iperfPort, 1, seconds);
  const four = await iperf(f.iperfPort, 4, seconds);
  const [ka, kaCpu] = await withCpu(f.pgids, seconds, () => wrk(f.httpPort, { seconds, connections: 32, threads: 2 }));
  const [nc, ncCpu] = await withCpu(f.pgids, seconds, () => wrk(f.httpPort, { seconds, connections: 32, threads: 2, close: true }));
  return {
    keepalive_cpu_us_per_req: kaCpu,
    newconn_cpu_us_per_conn: ncCpu,
    throughput_1stream_gbps: round(one.gbps),
    throughput_4stream_gbps: round(four.gbps),
    keepalive_rps: Math.round(ka.rps),
    keepalive_p50_ms: round(ka.p50Ms),
    keepalive_p99_ms: round(ka.p99Ms),
    newconn_rate: Math.round(nc.rps),
    errors: ka.errors + nc.errors,
  };
}

/** Per-figure median over rounds (targets are interleaved per round to spread background noise). */
function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  return round(v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2);
}

function medianFigures(list: Figures[]): Figures {
  const out = { ...list[0]! };
  for (const k of Object.keys(out) as (keyof Figures)[]) out[k] = median(list.map((f) => f[k]));
  return out;
}

function round(n: number, d = 3): number {
  const f = 10 ** d;
  return Math.round(n * f) / f;
}

async function twoPorts(): Promise<[number, number]> {
  return [await freePort(), await freePort()];
}

async function startHaproxy(dir: string, iperfB: number, httpB: number): Promise<Fronts> {
  const [pi, ph] = await twoPorts();
  const cfg = `global\n  nbthread 2\n  maxconn 8000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1m\n  timeout server 1m\n`
    + `frontend fi\n  bind 127.0.0.1:${pi}\n  default_backend bi\nbackend bi\n  server s1 127.0.0.1:${iperfB}\n`
    + `frontend fh\n  bind 127.0.0.1:${ph}\n  default_backend bh\nbackend bh\n  server s1 127.0.0.1:${httpB}\n`;
  const file = path.join(dir, 'haproxy.cfg');
  await writeFile(file, cfg);
  const c = startChild('haproxy', ['-db', '-f', file]);
  await waitForPort(ph, '127.0.0.1', 20_000).catch(async (err) => { await c.stop(); throw new Error(`${(err as Error).message}: ${c.output()}`); });
  return { iperfPort: pi, httpPort: ph, pgids: [c.proc.pid!], stop: () => c.stop() };
}

async function startGo(dir: string, iperfB: number, httpB: number): Promise<Fronts> {
  const [pi, ph] = await twoPorts();
  const a = startChild(path.join(dir, 'goproxy'), ['-listen', `127.0.0.1:${pi}`, '-backend', `127.0.0.1:${iperfB}`]);
  const b = startChild(path.join(dir, 'goproxy'), ['-listen', `127.0.0.1:${ph}`, '-backend', `127.0.0.1:${httpB}`]);
  const fa = await ready(a, pi, pi, /listening/);
  const fb = await ready(b, ph, ph, /listening/);
  return { iperfPort: pi, httpPort: ph, pgids: [...fa.pgids, ...fb.pgids], stop: async () => { await fa.stop(); await fb.stop(); } };
}

/** variant: "native" | "pump", optionally "+hwm<N>k" (the pump's stream highWaterMark). */
function parseVariant(v: string): Omit<ChildConfig, 'routes'> {
  const [mode, ...mods] = v.split('+');
  if (mode && mode !== 'native' && mode !== 'pump') throw new Error(`unknown data path ${mode} (native | pump)`);
  const cfg: Omit<ChildConfig, 'routes'> = { mode: (mode || DEFAULT_VARIANT) as ChildConfig['mode'] };
  for (const m of mods) {
    const hwm = /^hwm(\d+)k$/.exec(m);
    if (hwm) cfg.highWaterMark = Number(hwm[1]) * 1024;
    else throw new Error(`unknown variant modifier ${m}`);
  }
  return cfg;
}

async function startDockerlet(variant: string, iperfB: number, httpB: number): Promise<Fronts> {
  const [pi, ph] = await twoPorts();
  const cfg: ChildConfig = { ...parseVariant(variant), routes: [
    { port: pi, backendHost: '127.0.0.1', backendPort: iperfB },
    { port: ph, backendHost: '127.0.0.1', backendPort: httpB },
  ] };
  const c = startChild(process.execPath, ['--import', 'tsx', path.join(here, 'lib', 'proxy-child.ts'), JSON.stringify(cfg)], { cwd: root });
  return ready(c, pi, ph, /listening/);
}

/** Waits for the proxy's start-up line (never probes the iperf3 port: a probe connection would disturb iperf3's control protocol). */
async function ready(c: Child, pi: number, ph: number, re: RegExp): Promise<Fronts> {
  try {
    await c.waitFor(re);
  } catch (err) {
    await c.stop();
    throw err;
  }
  return { iperfPort: pi, httpPort: ph, pgids: [c.proc.pid!], stop: () => c.stop() };
}

function ratios(d: Figures, peer: Figures, suffix: string): Record<string, number> {
  return {
    [`throughput_1stream_${suffix}`]: round(d.throughput_1stream_gbps / peer.throughput_1stream_gbps),
    [`throughput_4stream_${suffix}`]: round(d.throughput_4stream_gbps / peer.throughput_4stream_gbps),
    [`keepalive_rps_${suffix}`]: round(d.keepalive_rps / peer.keepalive_rps),
    [`newconn_rate_${suffix}`]: round(d.newconn_rate / peer.newconn_rate),
    // Latency: dockerlet p99 / peer p99, lower is better (≤ 1 means dockerlet is at least as fast).
    [`keepalive_p99_${suffix}`]: round(d.keepalive_p99_ms / peer.keepalive_p99_ms),
  };
}

function pairedRatios(samples: Record<string, Figures[]>, name: string, peer: string, suffix: string): Record<string, number> {
  const mine = samples[name] ?? [];
  const theirs = samples[peer] ?? [];
  // Pairs by round: only when neither lost a round (a failed sample would shift the pairs).
  if (mine.length === 0 || mine.length !== theirs.length) return {};
  const per = mine.map((m, i) => ratios(m, theirs[i]!, suffix));
  const out: Record<string, number> = {};
  for (const k of Object.keys(per[0]!)) out[k] = median(per.map((r) => r[k]!));
  return out;
}

function printTable(rows: Record<string, Figures>): void {
  const head = ['target', 'iperf 1 (Gb/s)', 'iperf 4 (Gb/s)', 'keep-alive req/s', 'p50 ms', 'p99 ms', 'new conn/s', 'cpu µs/req', 'cpu µs/conn', 'errors'];
  const lines = Object.entries(rows).map(([k, f]) => [k, f.throughput_1stream_gbps, f.throughput_4stream_gbps, f.keepalive_rps, f.keepalive_p50_ms, f.keepalive_p99_ms, f.newconn_rate, f.keepalive_cpu_us_per_req, f.newconn_cpu_us_per_conn, f.errors].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cols: string[]) => cols.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  console.log(fmt(head));
  for (const l of lines) console.log(fmt(l));
}

/** args: optional `--variants a,b,c` and `--seconds N` (override the env). */
export async function main(args: string[] = []): Promise<void> {
  const arg = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  const seconds = Number(arg('--seconds') ?? process.env.BENCH_SECONDS ?? 5);
  const rounds = Number(arg('--rounds') ?? process.env.BENCH_ROUNDS ?? 1);
  // By default the fallback ('pump') runs beside the default one, so each run shows what the native relay buys.
  const variants = (arg('--variants') ?? process.env.BENCH_PROXY_VARIANTS ?? (DEFAULT_VARIANT === 'native' ? 'pump' : '')).split(',').map((s) => s.trim()).filter(Boolean);
  await ensureAptPackages({ haproxy: 'haproxy', iperf3: 'iperf3', wrk: 'wrk' });
  const dir = await mkdtemp(path.join(tmpdir(), 'dockerlet-bench-proxy-'));
  const children: Child[] = [];
  const rows: Record<string, Figures> = {};
  let samplesOut: Record<string, Figures[]> | undefined;
  try {
    await goBuild(dir);
    const iperfB = await freePort();
    const httpB = await freePort();
    children.push(startChild('iperf3', ['-s', '-p', String(iperfB)]));
    children.push(startChild(path.join(dir, 'httpd'), ['-listen', `127.0.0.1:${httpB}`]));
    await waitForPort(iperfB);
    await waitForPort(httpB);
    const targets: [string, () => Promise<Fronts>][] = [
      ['direct', async () => ({ iperfPort: iperfB, httpPort: httpB, pgids: [], stop: async () => {} })],
      ['haproxy', () => startHaproxy(dir, iperfB, httpB)],
      ['go_userspace', () => startGo(dir, iperfB, httpB)],
      ['dockerlet', () => startDockerlet(DEFAULT_VARIANT, iperfB, httpB)],
      ...variants.map((v): [string, () => Promise<Fronts>] => [`dockerlet[${v}]`, () => startDockerlet(v, iperfB, httpB)]),
    ];
    const samples: Record<string, Figures[]> = {};
    for (let round = 1; round <= rounds; round++) {
      // Direct first, then the proxies in an order rotated each round, so none always follows the same
      // neighbour (whose TIME_WAIT sockets and page cache it would inherit).
      const proxies = targets.slice(1);
      const shift = (round - 1) % proxies.length;
      for (const [name, start] of [targets[0]!, ...proxies.slice(shift), ...proxies.slice(0, shift)]) {
        const fronts = await start();
        try {
          console.log(`round ${round}/${rounds}: measuring ${name} ...`);
          (samples[name] ??= []).push(await measure(fronts, seconds));
        } catch (err) {
          // One bad sample (e.g. a load generator hiccup) must not lose the whole run.
          console.error(`round ${round}: ${name} failed: ${(err as Error).message}`);
        } finally {
          await fronts.stop();
        }
      }
    }
    for (const [name, list] of Object.entries(samples)) rows[name] = medianFigures(list);
    samplesOut = samples;
  } finally {
    for (const c of children) await c.stop();
    await rm(dir, { recursive: true, force: true });
  }
  for (const need of ['direct', 'haproxy', 'go_userspace', 'dockerlet']) {
    if (!rows[need]) throw new Error(`no successful measurement of ${need}`);
  }
  const d = rows.dockerlet!;
  const result = {
    generatedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), node: process.version },
    method: { seconds, rounds, aggregate: 'median per figure over rounds', order: 'direct first, then the proxies rotated by one each round', wrk: 'threads 2, 32 connections, 64-byte body from a Go net/http server', iperf3: '-P 1 and -P 4', dockerlet: `${DEFAULT_VARIANT} (the daemon's default data path here)`, note: 'client, proxy and server share the same cores; indicative only' },
    figures: rows,
    /** Every round's figures (the medians above come from these). */
    rounds: samplesOut,
    ratios: { ...ratios(d, rows.haproxy!, 'vs_haproxy'), ...ratios(d, rows.go_userspace!, 'vs_go_userspace'), ...ratios(d, rows.direct!, 'vs_direct') },
    /** Median over rounds of each round's ratio (both targets measured minutes apart, so slow drift of the host cancels). */
    paired_ratios: samplesOut ? { ...pairedRatios(samplesOut, 'dockerlet', 'haproxy', 'vs_haproxy'), ...pairedRatios(samplesOut, 'dockerlet', 'go_userspace', 'vs_go_userspace') } : {},
    /** The other dockerlet data paths measured in this run, against HAProxy (ratios of medians). */
    variant_ratios: Object.fromEntries(Object.keys(rows).filter((k) => k.startsWith('dockerlet[')).map((k) => [k, ratios(rows[k]!, rows.haproxy!, 'vs_haproxy')])),
  };
  await mkdir(path.join(here, 'results'), { recursive: true });
  await writeFile(path.join(here, 'results', 'proxy.json'), JSON.stringify(result, null, 2) + '\n');
  printTable(rows);
  console.log(JSON.stringify({ ratios: result.ratios, paired_ratios: result.paired_ratios, variant_ratios: result.variant_ratios }, null, 2));
}
