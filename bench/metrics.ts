// bench/metrics: dockerlet's container metrics against cAdvisor itself on the same 100 containers.
// Per peer, alone on the machine, in shuffled order per round: CPU seconds over an idle window
// (housekeeping only, no scrapes), then sequential scrapes of /metrics (p50/p99 time, size). Then
// both run together and are scraped at the same moment: the largest relative difference per
// metric for the same container. `npm run bench -- metrics [--containers 100] [--idle 60] [--rounds 2]`
// writes bench/results/metrics.json. The peer is built by scripts/build-metrics-peers.sh.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Dockerode from 'dockerode';
import { groupCpuSeconds } from './lib/cpu.js';
import { freePort, startChild, waitForPort, type Child } from './lib/proc.js';

const BUSYBOX = 'dockerlet/busybox:1.36';
const PREFIX = 'dkl-bench-metrics';
const HOUSEKEEPING = '10s';

interface Peer {
  name: 'dockerlet' | 'dockerlet[tsx]' | 'cadvisor';
  start(port: number): Child;
}

/**
 * Bundles this file with esbuild (packages external) into node_modules/.cache so that plain `node`
 * runs the collector: a process under tsx's loader burns ~3 ms of CPU per second while idle
 * (measured here: 66 ms per 20 s idle with tsx's register(), 0.9 ms without), which would hide the
 * collector's own cost.
 */
function bundleChild(): string {
  const out = 'node_modules/.cache/dockerlet-bench/metrics-child.mjs';
  const r = spawnSync('node_modules/.bin/esbuild', ['bench/metrics.ts', '--bundle', '--platform=node', '--format=esm', '--packages=external',
    `--outfile=${out}`, '--log-level=warning'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`esbuild: ${r.stderr}`);
  return out;
}

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

const median = (xs: number[]) => quantile(xs, 0.5);
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function makeContainers(docker: Dockerode, n: number): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      for (let attempt = 0; ; attempt++) {
        try {
          const c = await docker.createContainer({
            name: `${PREFIX}-${i}`, Image: BUSYBOX, Cmd: ['sleep', '86400'], Labels: { 'dockerlet.bench': 'metrics' },
            // restarted by dockerd itself if another test restarts the daemon (this machine is shared)
            HostConfig: { Memory: 64 << 20, RestartPolicy: { Name: 'unless-stopped' } },
          });
          ids.push(c.id);
          await c.start();
          break;
        } catch (err) {
          if (attempt >= 3) throw err;
          await sleep(1000);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  return ids;
}

async function removeContainers(docker: Dockerode): Promise<void> {
  const rows = await docker.listContainers({ all: true, filters: { label: ['dockerlet.bench=metrics'] } });
  let next = 0;
  await Promise.all(Array.from({ length: 6 }, async () => {
    while (next < rows.length) await docker.getContainer(rows[next++]!.Id).remove({ force: true }).catch(() => undefined);
  }));
}

async function fetchText(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

/** Waits until a scrape lists all n bench containers (bounded). */
async function waitAll(url: string, n: number): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const text = await fetchText(url).catch(() => '');
    const names = new Set([...text.matchAll(new RegExp(`name="(${PREFIX}-\\d+)"`, 'g'))].map((m) => m[1]));
    if (names.size >= n) return;
    if (Date.now() > deadline) throw new Error(`${url} lists ${names.size} of ${n} containers after 90 s`);
    await sleep(1000);
  }
}

interface Sample { name: string; labels: Record<string, string>; value: number }

function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)/);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

const COMPARED = [
  'container_cpu_usage_seconds_total', 'container_memory_usage_bytes', 'container_memory_working_set_bytes', 'container_memory_rss',
  'container_memory_cache', 'container_memory_mapped_file', 'container_spec_memory_limit_bytes', 'container_spec_cpu_shares',
  'container_processes', 'container_threads', 'container_file_descriptors', 'container_network_receive_bytes_total',
  'container_network_transmit_bytes_total', 'container_start_time_seconds', 'container_oom_events_total',
];

/** Largest relative difference per metric for the same container and extra labels. */
function compare(ours: string, theirs: string): Record<string, { max_rel_diff: number; series: number }> {
  const key = (s: Sample) => `${s.name}|${s.labels.name}|${s.labels.interface ?? ''}|${s.labels.cpu ?? ''}`;
  const peer = new Map(parseExposition(theirs).filter((s) => s.labels.name?.startsWith(PREFIX)).map((s) => [key(s), s.value]));
  const out: Record<string, { max_rel_diff: number; series: number }> = {};
  for (const s of parseExposition(ours)) {
    if (!COMPARED.includes(s.name) || !s.labels.name?.startsWith(PREFIX)) continue;
    const v = peer.get(key(s));
    if (v === undefined) continue;
    const rel = s.value === v ? 0 : Math.abs(s.value - v) / Math.max(Math.abs(s.value), Math.abs(v));
    const r = (out[s.name] ??= { max_rel_diff: 0, series: 0 });
    r.series++;
    r.max_rel_diff = Math.max(r.max_rel_diff, round(rel, 4));
  }
  return out;
}

async function measure(peer: Peer, n: number, idleS: number, scrapes: number) {
  const port = await freePort();
  const child = peer.start(port);
  const url = `http://127.0.0.1:${port}/metrics`;
  try {
    await waitForPort(port, '127.0.0.1', 60_000);
    await waitAll(url, n);
    await sleep(15_000); // settle past start-up work
    const pgid = child.proc.pid!;
    const cpu0 = groupCpuSeconds(pgid);
    await sleep(idleS * 1000);
    const idleCpu = groupCpuSeconds(pgid) - cpu0;
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < scrapes; i++) {
      const t0 = performance.now();
      const text = await fetchText(url);
      times.push(performance.now() - t0);
      bytes = Buffer.byteLength(text);
      await sleep(100);
    }
    return { idle_cpu_seconds: round(idleCpu), scrape_p50_ms: round(median(times)), scrape_p99_ms: round(quantile(times, 0.99)), scrape_bytes: bytes };
  } finally {
    await child.stop();
  }
}

export async function main(args: string[]): Promise<void> {
  const n = arg(args, 'containers', 100);
  const idleS = arg(args, 'idle', 60);
  const rounds = arg(args, 'rounds', 2);
  const scrapes = arg(args, 'scrapes', 50);
  const docker = new Dockerode();
  const build = spawnSync('bash', ['scripts/build-metrics-peers.sh'], { encoding: 'utf8', env: { ...process.env, GOMAXPROCS: '1' } });
  const cadvisorBin = build.status === 0 ? build.stdout.trim().split('\n').pop()! : undefined;
  if (!cadvisorBin) throw new Error(`cAdvisor build failed: ${build.stderr.slice(-2000)}`);
  const state = mkdtempSync(join(os.tmpdir(), 'dkl-bench-metrics-'));
  const bundle = bundleChild();
  const peers: Peer[] = [
    {
      name: 'dockerlet',
      start: (port) => startChild(process.execPath, [bundle, '--child', String(port), state]),
    },
    {
      name: 'dockerlet[tsx]',
      start: (port) => startChild(process.execPath, ['--import', 'tsx', 'bench/metrics.ts', '--child', String(port), state]),
    },
    {
      name: 'cadvisor',
      start: (port) => startChild(cadvisorBin, ['--listen', `127.0.0.1:${port}`, '--docker_only', `--housekeeping_interval=${HOUSEKEEPING}`,
        '--max_housekeeping_interval=15s']),
    },
  ];
  await removeContainers(docker);
  const t0 = Date.now();
  console.log(`creating ${n} containers`);
  await makeContainers(docker, n);
  console.log(`created in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const perRound: Record<string, Awaited<ReturnType<typeof measure>>[]> = { dockerlet: [], 'dockerlet[tsx]': [], cadvisor: [] };
  const orders: string[][] = [];
  let diffs: ReturnType<typeof compare> | undefined;
  try {
    for (let r = 0; r < rounds; r++) {
      const order = shuffle(peers);
      orders.push(order.map((p) => p.name));
      for (const p of order) {
        const m = await measure(p, n, idleS, scrapes);
        console.log(`round ${r + 1} ${p.name}: ${JSON.stringify(m)}`);
        perRound[p.name]!.push(m);
      }
    }
    // Values: both at once, scraped at the same moment after both housekept.
    const ports = [await freePort(), await freePort()];
    const pair = [peers[0]!, peers[2]!];
    const children = pair.map((p, i) => p.start(ports[i]!));
    try {
      await Promise.all(ports.map((port) => waitForPort(port, '127.0.0.1', 60_000)));
      await Promise.all(ports.map((port) => waitAll(`http://127.0.0.1:${port}/metrics`, n)));
      await sleep(25_000);
      const [ours, theirs] = await Promise.all(ports.map((port) => fetchText(`http://127.0.0.1:${port}/metrics`)));
      diffs = compare(ours!, theirs!);
    } finally {
      await Promise.all(children.map((c) => c.stop()));
    }
  } finally {
    await removeContainers(docker);
    rmSync(state, { recursive: true, force: true });
  }
  const fig = (name: string) => {
    const rs = perRound[name]!;
    return {
      idle_cpu_seconds: round(median(rs.map((x) => x.idle_cpu_seconds))),
      scrape_p50_ms: round(median(rs.map((x) => x.scrape_p50_ms))),
      scrape_p99_ms: round(median(rs.map((x) => x.scrape_p99_ms))),
      scrape_bytes: Math.round(median(rs.map((x) => x.scrape_bytes))),
      spread_idle_cpu_seconds: rs.map((x) => x.idle_cpu_seconds),
      spread_scrape_p50_ms: rs.map((x) => x.scrape_p50_ms),
    };
  };
  const ours = fig('dockerlet');
  const oursTsx = fig('dockerlet[tsx]');
  const theirs = fig('cadvisor');
  const result = {
    generatedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', kernel: os.release(), node: process.version },
    method: {
      containers: n, idle_seconds: idleS, rounds, scrapes_per_round: scrapes, orders,
      dockerlet: `dockerlet metrics (standalone), housekeeping ${HOUSEKEEPING}, its own process, bundled by esbuild and run by plain node`,
      'dockerlet[tsx]': 'the same run through tsx (as bin/dockerlet.js runs today): adds tsx\'s idle loader cost',
      cadvisor: `cAdvisor v0.53.0 library built by scripts/build-metrics-peers.sh (the cmd module is not on the Go proxy), --docker_only --housekeeping_interval=${HOUSEKEEPING} --max_housekeeping_interval=15s, metric sets cpu,memory,diskIO,network,process,oom_event,app`,
      cpu: 'utime+stime of the peer\'s process group over the idle window (no scrapes), median over rounds',
      values: 'both peers running, scraped at the same moment 25 s after both listed every container; largest |a-b|/max(|a|,|b|) per metric',
      note: 'other engineers share this 2-core machine; indicative only',
    },
    figures: {
      scrape_p50_ms: ours.scrape_p50_ms,
      scrape_p99_ms: ours.scrape_p99_ms,
      scrape_bytes: ours.scrape_bytes,
      idle_cpu_seconds: ours.idle_cpu_seconds,
      dockerlet: ours,
      'dockerlet[tsx]': oursTsx,
      cadvisor: theirs,
    },
    ratios: {
      cpu_vs_cadvisor: round(ours.idle_cpu_seconds / theirs.idle_cpu_seconds),
      scrape_time_vs_cadvisor: round(ours.scrape_p50_ms / theirs.scrape_p50_ms),
      scrape_p99_vs_cadvisor: round(ours.scrape_p99_ms / theirs.scrape_p99_ms),
      scrape_bytes_vs_cadvisor: round(ours.scrape_bytes / theirs.scrape_bytes),
    },
    variant_ratios: {
      'cpu_vs_cadvisor[tsx]': round(oursTsx.idle_cpu_seconds / theirs.idle_cpu_seconds),
      'scrape_time_vs_cadvisor[tsx]': round(oursTsx.scrape_p50_ms / theirs.scrape_p50_ms),
    },
    value_diffs: diffs ?? {},
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/metrics.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify({ figures: result.figures, ratios: result.ratios, variant_ratios: result.variant_ratios, value_diffs: diffs }, null, 2));
}

/** Child mode: the standalone server for one measurement. */
async function child(port: number, stateDir: string): Promise<void> {
  const { runStandaloneMetrics } = await import('../metrics/standalone.js');
  const { silentLogger } = await import('../lib/log.js');
  const ac = new AbortController();
  process.once('SIGTERM', () => ac.abort());
  const h = await runStandaloneMetrics({ port, housekeepingMs: 10_000, stateDir, log: silentLogger() }, ac.signal);
  await h.closed;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--child') {
  await child(Number(process.argv[3]), process.argv[4] ?? os.tmpdir());
}
