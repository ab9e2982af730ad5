// Proxy benchmark: direct (the limit), HAProxy tuned for TCP (splice-auto, tune.bufsize as the relay's
// reads) with 1 and with 2 threads, the old Go userspace data path, and dockerlet's native relay with
// 1 and with 2 relay threads (and the pump fallback beside it), all on 127.0.0.1. Writes
// bench/results/proxy.json. Where the relay is unavailable, dockerlet is measured on its fallback.
// Each round measures every target in a fresh random order, TIME_WAIT drained before each one:
//  phase A saturates (iperf3 1 and 4 streams, wrk keep-alive, wrk new connections);
//  phase B measures latency at a fixed rate (ratecli, open loop as wrk2) of 50 % of the slowest
//  target's keep-alive maximum in that round, in another random order.
// Samples carry their round; ratios are paired by round and reported with their spread; "parity"
// where the rounds' ratios cross 1.0.
// Args/env: --seconds/BENCH_SECONDS (default 5), --rounds/BENCH_ROUNDS (default 3), --variants/BENCH_PROXY_VARIANTS
// (extra dockerlet variants beside the default, e.g. "pump,pump+hwm256k"; default "pump"),
// --targets/BENCH_PROXY_TARGETS (a subset of the targets by name, e.g. to leave go_userspace out; default all).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureAptPackages, freePort, run, startChild, waitForPort, type Child } from './lib/proc.js';
import { iperf, wrk } from './lib/load.js';
import { groupCpuSeconds } from './lib/cpu.js';
import { goBuild, RELAY_READ_BYTES, startDockerlet, startGo, startHaproxy, versions, type Backends, type Fronts } from './lib/proxy-targets.js';
import { medianFigures, pairedRatios, round3, shuffled, type Figures, type Sample } from './lib/proxy-stats.js';
import { resolveDataPath } from '../proxy/native/engine.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** What `dockerlet proxy` runs by default on this machine. */
const DEFAULT_VARIANT = resolveDataPath(undefined).mode;
/** TIME_WAIT sockets counted as drained (BENCH_TIME_WAIT_DRAINED overrides, e.g. for a quick smoke run). */
const TIME_WAIT_DRAINED = Number(process.env.BENCH_TIME_WAIT_DRAINED ?? 1000);
const TIME_WAIT_MAX_WAIT_MS = 75_000;

interface Target {
  name: string;
  start(): Promise<Fronts>;
}

/** TIME_WAIT sockets on this host (IPv4 and IPv6). */
async function timeWaitCount(): Promise<number> {
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(f, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) if (line.trim().split(/\s+/)[3] === '06') n++;
  }
  return n;
}

/** Waits (bounded) until the previous target's TIME_WAIT sockets are gone; returns how many are left. */
async function drainTimeWait(): Promise<number> {
  const deadline = Date.now() + TIME_WAIT_MAX_WAIT_MS;
  let n = await timeWaitCount();
  while (n >= TIME_WAIT_DRAINED && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    n = await timeWaitCount();
  }
  return n;
}

/** `uptime`'s line (load over 1, 5 and 15 minutes), for the record. */
function uptimeLine(): string {
  try { return execFileSync('uptime', { encoding: 'utf8' }).trim(); } catch { return `loadavg ${loadavg().map(round3).join(' ')}`; }
}

/** dockerlet's native relay with this many relay threads (the child inherits the environment at spawn). */
async function startRelay(threads: number, b: Backends): Promise<Fronts> {
  const before = process.env.DOCKERLET_RELAY_THREADS;
  process.env.DOCKERLET_RELAY_THREADS = String(threads);
  try {
    return await startDockerlet('native', b);
  } finally {
    if (before === undefined) delete process.env.DOCKERLET_RELAY_THREADS;
    else process.env.DOCKERLET_RELAY_THREADS = before;
  }
}

async function withCpu<T extends { rps: number }>(pgids: number[], seconds: number, fn: () => Promise<T>): Promise<[T, number]> {
  const cpu = () => pgids.reduce((a, p) => a + groupCpuSeconds(p), 0);
  const before = cpu();
  const r = await fn();
  const used = cpu() - before;
  return [r, r.rps > 0 ? Math.round((used * 1e6) / (r.rps * seconds)) : 0];
}

type Saturated = Omit<Figures, 'fixed_rate_rps' | 'fixed_rate_p50_ms' | 'fixed_rate_p99_ms'>;

async function saturate(f: Fronts, seconds: number): Promise<Saturated> {
  const one = await iperf(f.iperfPort, 1, seconds);
  const four = await iperf(f.iperfPort, 4, seconds);
  const [ka, kaCpu] = await withCpu(f.pgids, seconds, () => wrk(f.httpPort, { seconds, connections: 32, threads: 2 }));
  const [nc, ncCpu] = await withCpu(f.pgids, seconds, () => wrk(f.httpPort, { seconds, connections: 32, threads: 2, close: true }));
  return {
    throughput_1stream_gbps: round3(one.gbps), throughput_4stream_gbps: round3(four.gbps),
    keepalive_rps: Math.round(ka.rps), newconn_rate: Math.round(nc.rps),
    keepalive_cpu_us_per_req: kaCpu, newconn_cpu_us_per_conn: ncCpu, errors: ka.errors + nc.errors,
  };
}

interface RateResult { achieved_rps: number; p50_ms: number; p99_ms: number; errors: number }

async function fixedRate(dir: string, f: Fronts, rate: number, seconds: number): Promise<RateResult> {
  const out = await run(path.join(dir, 'ratecli'), ['-addr', `127.0.0.1:${f.httpPort}`, '-rate', String(rate), '-c', '32', '-d', `${seconds}s`], (seconds + 30) * 1000);
  return JSON.parse(out.trim().split('\n').pop()!) as RateResult;
}

async function measured<T>(t: Target, fn: (f: Fronts) => Promise<T>): Promise<T | undefined> {
  let f: Fronts | undefined;
  try {
    f = await t.start();
    return await fn(f);
  } catch (err) {
    // One bad sample (a start or load generator hiccup) must not lose the whole run; its round has no pair.
    console.error(`${t.name} failed: ${(err as Error).message}`);
    return undefined;
  } finally {
    await f?.stop();
  }
}

function printTable(rows: Record<string, Figures>): void {
  const cols: [string, keyof Figures][] = [
    ['iperf 1 Gb/s', 'throughput_1stream_gbps'], ['iperf 4 Gb/s', 'throughput_4stream_gbps'], ['keep-alive req/s', 'keepalive_rps'],
    ['new conn/s', 'newconn_rate'], ['fixed-rate p50 ms', 'fixed_rate_p50_ms'], ['p99 ms', 'fixed_rate_p99_ms'],
    ['cpu µs/req', 'keepalive_cpu_us_per_req'], ['cpu µs/conn', 'newconn_cpu_us_per_conn'], ['errors', 'errors'],
  ];
  const lines = Object.entries(rows).map(([k, f]) => [k, ...cols.map(([, c]) => String(f[c]))]);
  const head = ['target', ...cols.map(([h]) => h)];
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (c: string[]) => c.map((s, i) => (i === 0 ? s.padEnd(w[i]!) : s.padStart(w[i]!))).join('  ');
  console.log(fmt(head));
  for (const l of lines) console.log(fmt(l));
}

/** args: optional `--variants a,b`, `--seconds N`, `--rounds N` (override the env). */
export async function main(args: string[] = []): Promise<void> {
  const arg = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  const seconds = Number(arg('--seconds') ?? process.env.BENCH_SECONDS ?? 5);
  const rounds = Number(arg('--rounds') ?? process.env.BENCH_ROUNDS ?? 3);
  const only = (arg('--targets') ?? process.env.BENCH_PROXY_TARGETS ?? '').split(',').map((x) => x.trim()).filter(Boolean);
  const variants = (arg('--variants') ?? process.env.BENCH_PROXY_VARIANTS ?? (DEFAULT_VARIANT === 'native' ? 'pump' : '')).split(',').map((s) => s.trim()).filter(Boolean);
  await ensureAptPackages({ haproxy: 'haproxy', iperf3: 'iperf3', wrk: 'wrk' });
  const dir = await mkdtemp(path.join(tmpdir(), 'dockerlet-bench-proxy-'));
  const children: Child[] = [];
  const samples: Record<string, Sample[]> = {};
  const loadBefore = round3(loadavg()[0]!);
  const uptimeBefore = uptimeLine();
  console.log(`start: ${uptimeBefore}`);
  const native = DEFAULT_VARIANT === 'native';
  const ours = native ? ['dockerlet_1thread', 'dockerlet_2threads'] : ['dockerlet'];
  const rates: Record<string, number> = {};
  let targetsRun: string[] | undefined;
  let programs: Record<string, string> | undefined;
  /** Writes bench/results/proxy.json from the rounds done so far (after every round: a run cut short keeps them). */
  const save = async (roundsDone: number) => {
    const rows = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, medianFigures(v)])) as Record<string, Figures>;
    const peers = ['haproxy_1thread', 'haproxy_2threads', 'go_userspace', 'direct', ...(ours.length > 1 ? [ours[0]!] : [])].filter((p) => samples[p]?.length);
    const compare = (name: string) => Object.fromEntries(peers.filter((p) => p !== name).map((p) => [`vs_${p}`, pairedRatios(samples[name] ?? [], samples[p]!)]));
    const result = {
      generatedAt: new Date().toISOString(),
      machine: {
        cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), loadavg1_at_start: loadBefore, loadavg1_at_end: round3(loadavg()[0]!),
        uptime_at_start: uptimeBefore, uptime_at_end: uptimeLine(),
        shared: 'a shared 2-core machine: other engineers\' test suites ran during the run (see the load at start, end and per sample)',
      },
      versions: programs,
      method: {
        seconds, rounds, rounds_completed: roundsDone,
        order: 'every target in a fresh random order per round and phase; TIME_WAIT drained (below 1000, at most 75 s) before each',
        saturation: 'iperf3 -P 1 and -P 4; wrk 2 threads, 32 connections, keep-alive and Connection: close; 64-byte body from a Go net/http server',
        fixed_rate: '32 keep-alive connections, open loop from the scheduled send time (no coordinated omission), at 50 % of the slowest target\'s keep-alive maximum of that round (rate_per_round)',
        haproxy: `mode tcp, option splice-auto, tune.bufsize ${RELAY_READ_BYTES} (the relay's read size), nbthread 1 and 2`,
        dockerlet: `${native ? 'the native relay with 1 and with 2 relay threads (DOCKERLET_RELAY_THREADS; the default here is one per core, at most 4)' : `${DEFAULT_VARIANT} (the relay is unavailable here)`}${variants.length ? `; also ${variants.join(', ')}` : ''}`,
        targets: targetsRun,
        aggregate: 'figures: median per figure over rounds; ratios: per round (paired by the round stamped on each sample), with median, min, max; verdict "parity" when min ≤ 1 ≤ max',
        note: 'client, proxies and servers share the same 2 cores, and the machine is shared with other engineers\' test runs; indicative only',
      },
      rate_per_round: rates,
      figures: rows,
      samples,
      ratios: { ...Object.fromEntries(ours.map((o) => [o, compare(o)])), ...Object.fromEntries(variants.map((v) => [`dockerlet[${v}]`, compare(`dockerlet[${v}]`)])) },
    };
    await mkdir(path.join(here, 'results'), { recursive: true });
    await writeFile(path.join(here, 'results', 'proxy.json'), JSON.stringify(result, null, 2) + '\n');
    return { rows, ratios: result.ratios };
  };
  try {
    const go = await goBuild(dir);
    programs = await versions(go);
    const b: Backends = { iperf: await freePort(), http: await freePort() };
    children.push(startChild('iperf3', ['-s', '-p', String(b.iperf)]));
    children.push(startChild(path.join(dir, 'httpd'), ['-listen', `127.0.0.1:${b.http}`]));
    await waitForPort(b.iperf);
    await waitForPort(b.http);
    const targets: Target[] = [
      { name: 'direct', start: async () => ({ iperfPort: b.iperf, httpPort: b.http, pgids: [], stop: async () => {} }) },
      { name: 'haproxy_1thread', start: () => startHaproxy(dir, 1, b) },
      { name: 'haproxy_2threads', start: () => startHaproxy(dir, 2, b) },
      { name: 'go_userspace', start: () => startGo(dir, b) },
      ...(native
        ? [{ name: 'dockerlet_1thread', start: () => startRelay(1, b) }, { name: 'dockerlet_2threads', start: () => startRelay(2, b) }]
        : [{ name: 'dockerlet', start: () => startDockerlet(DEFAULT_VARIANT, b) }]),
      ...variants.map((v): Target => ({ name: `dockerlet[${v}]`, start: () => startDockerlet(v, b) })),
    ].filter((t) => !only.length || only.includes(t.name));
    targetsRun = targets.map((t) => t.name);
    for (let r = 1; r <= rounds; r++) {
      const sat = new Map<string, { s: Saturated; position: number; tw: number; load: number }>();
      const orderA = shuffled(targets);
      for (const [i, t] of orderA.entries()) {
        const tw = await drainTimeWait();
        const load = round3(loadavg()[0]!);
        console.log(`round ${r}/${rounds} A ${i + 1}/${orderA.length}: ${t.name} (TIME_WAIT ${tw}, load ${load})`);
        const s = await measured(t, (f) => saturate(f, seconds));
        if (s) sat.set(t.name, { s, position: i + 1, tw, load });
      }
      const slowest = Math.min(...[...sat.values()].map((v) => v.s.keepalive_rps).filter((n) => n > 0));
      const rate = Math.max(100, Math.floor(slowest / 2));
      rates[String(r)] = rate;
      for (const [i, t] of shuffled(targets).entries()) {
        const a = sat.get(t.name);
        if (!a) continue;
        await drainTimeWait();
        console.log(`round ${r}/${rounds} B ${i + 1}/${targets.length}: ${t.name} at ${rate} req/s`);
        const fr = await measured(t, (f) => fixedRate(dir, f, rate, seconds));
        if (!fr) continue;
        const figures: Figures = { ...a.s, fixed_rate_rps: Math.round(fr.achieved_rps), fixed_rate_p50_ms: round3(fr.p50_ms), fixed_rate_p99_ms: round3(fr.p99_ms), errors: a.s.errors + fr.errors };
        (samples[t.name] ??= []).push({ round: r, position: a.position, timeWaitAtStart: a.tw, loadAtStart: a.load, figures });
      }
      await save(r);
    }
  } finally {
    for (const c of children) await c.stop();
    await rm(dir, { recursive: true, force: true });
  }
  for (const need of ['direct', 'haproxy_1thread', 'haproxy_2threads', 'go_userspace', ...ours]) {
    if ((!only.length || only.includes(need)) && !samples[need]?.length) throw new Error(`no successful measurement of ${need}`);
  }
  const { rows, ratios } = await save(rounds);
  console.log(`end: ${uptimeLine()}`);
  printTable(rows);
  for (const o of ours) {
    for (const [peer, r] of Object.entries(ratios[o] ?? {})) {
      for (const [k, v] of Object.entries(r)) if (v) console.log(`${o} ${peer} ${k}: ${v.median} (${v.min}–${v.max}) ${v.verdict}`);
    }
  }
}
