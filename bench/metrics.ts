// bench/metrics: dockerlet's container metrics against cAdvisor itself on the same 100 containers
// (each one a pod's container, labelled as dockershim labelled them). Per peer, alone on the machine,
// in shuffled order per round: CPU seconds over an idle window (housekeeping only, no scrapes), then
// sequential scrapes (p50/p99 time, size) of dockerlet's /metrics/cadvisor (the kubelet's labels) and
// standalone /metrics (every Docker label), and of cAdvisor's /metrics with the kubelet's label set
// (--store_container_labels=false, whitelisting the three io.kubernetes labels). Scrapes accept gzip
// as Prometheus does. Then both run together and are scraped at the same moment: the largest relative
// difference per metric for the same container.
// `npm run bench -- metrics [--containers 100] [--idle 60] [--rounds 2] [--scrapes 50]` writes
// bench/results/metrics.json. The peer is built by scripts/build-metrics-peers.sh.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import Dockerode from 'dockerode';
import { groupCpuSeconds } from './lib/cpu.js';
import { freePort, startChild, waitForPort, type Child } from './lib/proc.js';

const BUSYBOX = 'dockerlet/busybox:1.36';
const PREFIX = 'dkl-bench-metrics';
const HOUSEKEEPING = '10s';
const NODE = 'dkl-bench-metrics';
/** The kubelet's label set for cAdvisor: what the kubelet's /metrics/cadvisor derives pod, namespace and container from. */
const KUBE_LABELS = ['io.kubernetes.container.name', 'io.kubernetes.pod.name', 'io.kubernetes.pod.namespace'];

interface Peer {
  name: 'dockerlet' | 'dockerlet[tsx]' | 'cadvisor';
  start(port: number): Child;
  /** The endpoint measured and compared (dockerlet: the kubelet's /metrics/cadvisor). */
  path: string;
  /** A second endpoint whose scrapes are reported too (dockerlet: standalone /metrics). */
  extraPath?: string;
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
            // A pod's container as dockershim labelled it; io.dockerlet.node names a node no agent runs
            // as, so the other engineers' agents on this machine neither adopt nor measure it.
            name: `${PREFIX}-${i}`, Image: BUSYBOX, Cmd: ['sleep', '86400'],
            Labels: {
              'dockerlet.bench': 'metrics', 'io.kubernetes.pod.name': `bench-${i}`, 'io.kubernetes.pod.namespace': NODE,
              'io.kubernetes.pod.uid': `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, 'io.kubernetes.container.name': 'app',
              'io.dockerlet.node': NODE,
            },
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

interface Sample { name: string; labels: Record<string, string>; value: number; ts?: number }

function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)(?: (\d+))?$/);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[4]), ...(m[5] ? { ts: Number(m[5]) } : {}) });
  }
  return out;
}

const COMPARED = [
  'container_cpu_usage_seconds_total', 'container_cpu_user_seconds_total', 'container_cpu_system_seconds_total',
  'container_memory_usage_bytes', 'container_memory_working_set_bytes', 'container_memory_rss', 'container_memory_cache',
  'container_memory_mapped_file', 'container_memory_swap', 'container_memory_max_usage_bytes', 'container_memory_failcnt',
  'container_memory_failures_total', 'container_spec_memory_limit_bytes', 'container_spec_memory_reservation_limit_bytes',
  'container_spec_memory_swap_limit_bytes', 'container_spec_cpu_shares', 'container_spec_cpu_period',
  'container_processes', 'container_threads', 'container_threads_max', 'container_file_descriptors',
  'container_network_receive_bytes_total', 'container_network_receive_packets_total', 'container_network_receive_errors_total',
  'container_network_transmit_bytes_total', 'container_network_transmit_packets_total', 'container_network_transmit_errors_total',
  'container_start_time_seconds', 'container_oom_events_total',
];

interface Diff { max_rel_diff: number; series: number; missing_in_cadvisor: number; worst?: string }

/**
 * Largest relative difference per metric for the same container (name label) and extra labels
 * (interface, cpu, failure_type, scope); `missing_in_cadvisor` counts our series the peer lacks.
 */
function compare(ours: string, theirs: string): Record<string, Diff> {
  const key = (s: Sample) => [s.name, s.labels.name, s.labels.interface, s.labels.cpu, s.labels.failure_type, s.labels.scope].join('|');
  const peer = new Map(parseExposition(theirs).filter((s) => s.labels.name?.startsWith(PREFIX)).map((s) => [key(s), s]));
  const out: Record<string, Diff> = {};
  for (const s of parseExposition(ours)) {
    if (!COMPARED.includes(s.name) || !s.labels.name?.startsWith(PREFIX)) continue;
    const r = (out[s.name] ??= { max_rel_diff: 0, series: 0, missing_in_cadvisor: 0 });
    const p = peer.get(key(s));
    if (p === undefined) {
      r.missing_in_cadvisor++;
      continue;
    }
    const v = p.value;
    const rel = s.value === v ? 0 : Math.abs(s.value - v) / Math.max(Math.abs(s.value), Math.abs(v));
    r.series++;
    if (round(rel, 4) > r.max_rel_diff) {
      r.max_rel_diff = round(rel, 4);
      // The samples' own collection times (both peers stamp them): a gap explains a moving counter.
      const gap = s.ts !== undefined && p.ts !== undefined ? `, sampled ${((s.ts - p.ts) / 1000).toFixed(1)} s apart` : '';
      r.worst = `${s.labels.name}: dockerlet ${s.value}, cAdvisor ${v}${gap}`;
    }
  }
  return out;
}

/** One GET with Accept-Encoding: gzip (as Prometheus sends it): the time to the body's last byte, and the body. */
function timedGet(url: string, agent: http.Agent): Promise<{ ms: number; body: Buffer; gzip: boolean }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(url, { headers: { 'accept-encoding': 'gzip' }, agent, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${url}: HTTP ${res.statusCode}`));
        resolve({ ms: performance.now() - t0, body: Buffer.concat(chunks), gzip: res.headers['content-encoding'] === 'gzip' });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
    req.on('error', reject);
  });
}

/**
 * Sequential scrapes of one URL, 100 ms apart: p50/p99 time to the last byte (decompression is the
 * scraper's cost, left out for both peers), the decoded text's size, and the server's CPU per scrape
 * (its process group's CPU over the scrapes / count: the load-insensitive view of the same cost).
 */
async function scrapeTimes(url: string, scrapes: number, pgid: number) {
  const times: number[] = [];
  let bytes = 0;
  let wire = 0;
  // One kept-alive connection, as Prometheus scrapes a target.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const cpu0 = groupCpuSeconds(pgid);
  for (let i = 0; i < scrapes; i++) {
    const r = await timedGet(url, agent);
    times.push(r.ms);
    wire = r.body.length;
    bytes = r.gzip ? gunzipSync(r.body).length : r.body.length;
    await sleep(100);
  }
  const cpuMs = ((groupCpuSeconds(pgid) - cpu0) * 1000) / scrapes;
  agent.destroy();
  return { p50: round(median(times)), p99: round(quantile(times, 0.99)), bytes, wire, cpuMs: round(cpuMs, 2) };
}

async function measure(peer: Peer, n: number, idleS: number, scrapes: number) {
  const port = await freePort();
  const child = peer.start(port);
  const url = `http://127.0.0.1:${port}${peer.path}`;
  try {
    await waitForPort(port, '127.0.0.1', 60_000);
    await waitAll(url, n);
    await sleep(30_000); // settle past start-up work (first reads, JIT, the GCs after start-up)
    const pgid = child.proc.pid!;
    const cpu0 = groupCpuSeconds(pgid);
    await sleep(idleS * 1000);
    const idleCpu = groupCpuSeconds(pgid) - cpu0;
    const main = await scrapeTimes(url, scrapes, pgid);
    const extra = peer.extraPath ? await scrapeTimes(`http://127.0.0.1:${port}${peer.extraPath}`, scrapes, pgid) : undefined;
    return {
      idle_cpu_seconds: round(idleCpu), scrape_p50_ms: main.p50, scrape_p99_ms: main.p99, scrape_bytes: main.bytes,
      scrape_wire_bytes: main.wire, scrape_cpu_ms: main.cpuMs,
      ...(extra ? { extra_scrape_p50_ms: extra.p50, extra_scrape_p99_ms: extra.p99, extra_scrape_bytes: extra.bytes, extra_scrape_cpu_ms: extra.cpuMs } : {}),
    };
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
      name: 'dockerlet', path: '/metrics/cadvisor', extraPath: '/metrics',
      start: (port) => startChild(process.execPath, [bundle, '--child', String(port), state]),
    },
    {
      name: 'dockerlet[tsx]', path: '/metrics/cadvisor',
      start: (port) => startChild(process.execPath, ['--import', 'tsx', 'bench/metrics.ts', '--child', String(port), state]),
    },
    {
      name: 'cadvisor', path: '/metrics',
      start: (port) => startChild(cadvisorBin, ['--listen', `127.0.0.1:${port}`, '--docker_only', `--housekeeping_interval=${HOUSEKEEPING}`,
        '--max_housekeeping_interval=15s', '--store_container_labels=false', `--whitelisted_container_labels=${KUBE_LABELS.join(',')}`]),
    },
  ];
  const loadStart = os.loadavg().map((x) => round(x, 2));
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
      const urls = ports.map((port, i) => `http://127.0.0.1:${port}${pair[i]!.path}`);
      await Promise.all(ports.map((port) => waitForPort(port, '127.0.0.1', 60_000)));
      await Promise.all(urls.map((url) => waitAll(url, n)));
      await sleep(25_000);
      const [ours, theirs] = await Promise.all(urls.map((url) => fetchText(url)));
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
      scrape_wire_bytes: Math.round(median(rs.map((x) => x.scrape_wire_bytes))),
      scrape_cpu_ms: round(median(rs.map((x) => x.scrape_cpu_ms)), 2),
      spread_idle_cpu_seconds: rs.map((x) => x.idle_cpu_seconds),
      spread_scrape_p50_ms: rs.map((x) => x.scrape_p50_ms),
      ...(rs[0]?.extra_scrape_p50_ms !== undefined ? {
        standalone_scrape_p50_ms: round(median(rs.map((x) => x.extra_scrape_p50_ms!))),
        standalone_scrape_p99_ms: round(median(rs.map((x) => x.extra_scrape_p99_ms!))),
        standalone_scrape_bytes: Math.round(median(rs.map((x) => x.extra_scrape_bytes!))),
        standalone_scrape_cpu_ms: round(median(rs.map((x) => x.extra_scrape_cpu_ms!)), 2),
      } : {}),
    };
  };
  const loadEnd = os.loadavg().map((x) => round(x, 2));
  const ours = fig('dockerlet');
  const oursTsx = fig('dockerlet[tsx]');
  const theirs = fig('cadvisor');
  const result = {
    generatedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', kernel: os.release(), node: process.version },
    load: { start: loadStart, end: loadEnd, source: 'os.loadavg() 1/5/15 min at the start and end of the run' },
    method: {
      containers: n, idle_seconds: idleS, rounds, scrapes_per_round: scrapes, orders,
      workload: `${n} busybox 'sleep' containers labelled as ${n} single-container pods (dockershim's io.kubernetes.* labels), 64 MiB limit, plus whatever else runs on the shared machine (both peers see every Docker container)`,
      dockerlet: `the collector as \`dockerlet metrics\` runs it (every Docker container, housekeeping ${HOUSEKEEPING}) with the kubelet's metrics routes on the same server, its own process, bundled by esbuild and run by plain node; figures.scrape_* are /metrics/cadvisor (kubelet labels), figures.dockerlet.standalone_* are standalone /metrics (every Docker label as container_label_*)`,
      'dockerlet[tsx]': 'the same run through tsx (as bin/dockerlet.js runs today): adds tsx\'s idle loader cost',
      cadvisor: `cAdvisor v0.53.0 library built by scripts/build-metrics-peers.sh (the cmd module is not on the Go proxy: "reading https://proxy.golang.org/github.com/google/cadvisor/cmd/@v/list: 404 Not Found"), --docker_only --housekeeping_interval=${HOUSEKEEPING} --max_housekeeping_interval=15s --store_container_labels=false --whitelisted_container_labels=${KUBE_LABELS.join(',')} (the kubelet's label set), metric sets cpu,memory,diskIO,network,process,oom_event,app`,
      scrapes: 'sequential GETs 100 ms apart with Accept-Encoding: gzip (as Prometheus sends it), over one kept-alive connection as Prometheus scrapes; time to the last byte of the body (decompressing is the scraper\'s cost, for both peers); scrape_bytes = decoded text, scrape_wire_bytes = as sent; scrape_cpu_ms = the server\'s CPU over the scrapes / count (10 ms tick resolution summed over all scrapes)',
      cpu: 'utime+stime of the peer\'s process group over the idle window (no scrapes, after 30 s of settling), median over rounds. CPU seconds are far less sensitive to the machine\'s load than wall times (scrape latency), which include waiting for a core',
      values: 'both peers running, scraped at the same moment 25 s after both listed every container; largest |a-b|/max(|a|,|b|) per metric, with the worst series',
      note: 'other engineers share this 2-core machine (see load); indicative only',
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
      standalone_scrape_time_vs_cadvisor: round((ours.standalone_scrape_p50_ms ?? NaN) / theirs.scrape_p50_ms),
      scrape_p99_vs_cadvisor: round(ours.scrape_p99_ms / theirs.scrape_p99_ms),
      scrape_cpu_vs_cadvisor: round(ours.scrape_cpu_ms / theirs.scrape_cpu_ms),
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
  const { installMetricsRoutes } = await import('../metrics/routes.js');
  const { silentLogger } = await import('../lib/log.js');
  const ac = new AbortController();
  process.once('SIGTERM', () => ac.abort());
  const h = await runStandaloneMetrics({
    port, housekeepingMs: 10_000, stateDir, log: silentLogger(),
    plugins: [(app, collector) => installMetricsRoutes(app, collector, { nodeName: NODE, agentMetrics: false })],
  }, ac.signal);
  await h.closed;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--child') {
  await child(Number(process.argv[3]), process.argv[4] ?? os.tmpdir());
}
