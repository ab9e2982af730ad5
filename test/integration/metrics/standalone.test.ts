// `dockerlet metrics` on real Docker, scraped by a real Prometheus (Debian's package): CPU of a
// container capped at 0.5 CPU, network bytes a container received, OOM kills counted (also across a
// restart of the metrics server), promtool-clean output, PromQL by container name.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Dockerode from 'dockerode';
import { delay } from '../../../lib/lifecycle.js';
import { detectLayout } from '../../../metrics/cgroup/layout.js';
import { readCpuTotal } from '../../../metrics/cgroup/reader.js';
import { runStandaloneMetrics, type StandaloneHandle } from '../../../metrics/standalone.js';
import { freePort } from '../../cluster/net.js';

const BUSYBOX = 'dockerlet/busybox:1.36';
const RUN = `dkl-metrics-${randomBytes(3).toString('hex')}`;
const docker = new Dockerode();
const dir = mkdtempSync(join(tmpdir(), 'dkl-metrics-'));
const stateDir = join(dir, 'state');
const created: string[] = [];
let server: { handle: StandaloneHandle; ac: AbortController } | undefined;
let prometheus: ChildProcess | undefined;
let promUrl = '';

async function run(name: string, cmd: string, host: Dockerode.HostConfig = {}): Promise<Dockerode.ContainerInspectInfo> {
  const c = await docker.createContainer({ name: `${RUN}-${name}`, Image: BUSYBOX, Cmd: ['sh', '-c', cmd], Labels: { 'dockerlet.test': RUN }, HostConfig: host });
  created.push(c.id);
  await c.start();
  return c.inspect();
}

async function startServer(): Promise<StandaloneHandle> {
  const ac = new AbortController();
  const handle = await runStandaloneMetrics({ port: await freePort(), housekeepingMs: 1000, stateDir }, ac.signal);
  server = { handle, ac };
  return handle;
}

async function stopServer(): Promise<void> {
  if (!server) return;
  server.ac.abort();
  await server.handle.closed;
  server = undefined;
}

async function scrape(): Promise<string> {
  const r = await fetch(`${server!.handle.url}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return r.text();
}

/** The value of the first sample of `family` whose labels include name="<RUN>-<name>". */
function value(text: string, family: string, name: string, extra = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${family}{`) && l.includes(`name="${RUN}-${name}"`) && l.includes(extra));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf('}') + 1).trim().split(' ')[0]);
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(500);
  }
}

async function promQuery(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await r.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  assert.equal(body.status, 'success');
  return body.data.result;
}

before(async () => {
  await startServer();
});

after(async () => {
  if (prometheus?.pid) {
    try { process.kill(-prometheus.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  await stopServer();
  await Promise.all(created.map((id) => docker.getContainer(id).remove({ force: true }).catch(() => undefined)));
  rmSync(dir, { recursive: true, force: true });
});

test('a container capped at 0.5 CPU: Prometheus scrapes it and rate() is close to 0.5', async () => {
  if (spawnSync('prometheus', ['--version']).error) assert.fail('prometheus is not installed (apt-get install prometheus)');
  await run('busy', 'while :; do :; done', { NanoCpus: 500_000_000 });
  const port = await freePort();
  const cfg = join(dir, 'prometheus.yml');
  writeFileSync(cfg, [
    'global: { scrape_interval: 1s, evaluation_interval: 1s }',
    'scrape_configs:',
    '  - job_name: dockerlet',
    `    static_configs: [{ targets: ['${new URL(server!.handle.url).host}'] }]`,
    '',
  ].join('\n'));
  prometheus = spawn('setsid', ['prometheus', `--config.file=${cfg}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  promUrl = `http://127.0.0.1:${port}`;
  await until('prometheus ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok || undefined);
  const series = await until('the busy container in PromQL', async () => {
    const r = await promQuery(`container_cpu_usage_seconds_total{name="${RUN}-busy"}`);
    return r.length > 0 ? r : undefined;
  });
  assert.equal(series[0]!.metric.cpu, 'total');
  assert.match(series[0]!.metric.id!, /^\/docker\/[0-9a-f]{64}$/);
  assert.equal(series[0]!.metric.image, BUSYBOX);
  assert.equal(series[0]!.metric.container_label_dockerlet_test, RUN);
  const ws = await promQuery(`container_memory_working_set_bytes{name="${RUN}-busy"}`);
  assert.ok(Number(ws[0]?.value[1]) > 0, 'working set present');
  // The kernel's own counter, sampled beside the collector: on a loaded machine the container gets
  // less than its quota, and the metric must say exactly what it got at the times it names.
  const layout = detectLayout();
  const cgroup = series[0]!.metric.id!;
  const kernel: [number, number][] = [];
  for (let i = 0; i < 30; i++) {
    kernel.push([Date.now(), readCpuTotal(layout, cgroup)! / 1e9]);
    await delay(500);
  }
  const raw = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(`container_cpu_usage_seconds_total{name="${RUN}-busy"}[30s]`)}`);
  const values = ((await raw.json()) as { data: { result: { values: [number, string][] }[] } }).data.result[0]!.values
    .map(([t, v]) => [t * 1000, Number(v)] as const)
    .filter(([t]) => t >= kernel[0]![0] && t <= kernel.at(-1)![0]);
  assert.ok(values.length >= 3, `samples inside the window: ${values.length}`);
  const at = (t: number) => { // the kernel counter interpolated at t
    const i = kernel.findIndex(([kt]) => kt >= t);
    const [t1, v1] = kernel[Math.max(0, i)]!;
    const [t0, v0] = kernel[Math.max(0, i - 1)]!;
    return t1 === t0 ? v1 : v0 + ((v1 - v0) * (t - t0)) / (t1 - t0);
  };
  const [first, last] = [values[0]!, values.at(-1)!];
  const promDelta = last[1] - first[1];
  const kernelDelta = at(last[0]) - at(first[0]);
  const rate = promDelta / ((last[0] - first[0]) / 1000);
  const promql = Number((await promQuery(`rate(container_cpu_usage_seconds_total{name="${RUN}-busy"}[10s])`))[0]?.value[1]);
  console.log(`a 0.5 CPU busy loop: ${rate.toFixed(3)} CPU from the samples, rate()[10s] ${promql.toFixed(3)}, kernel ${(kernelDelta / ((last[0] - first[0]) / 1000)).toFixed(3)}`);
  assert.ok(rate > 0.1 && rate < 0.56, `rate ${rate} should be near (and not above) the 0.5 CPU limit`);
  assert.ok(Math.abs(promDelta - kernelDelta) <= 0.05 * kernelDelta + 0.02, `CPU seconds in Prometheus ${promDelta} vs the cgroup's ${kernelDelta}`);
  const quota = value(await scrape(), 'container_spec_cpu_quota', 'busy');
  assert.equal(quota, 50_000);
});

test('a container that receives N bytes: container_network_receive_bytes_total grows by at least N', async () => {
  const c = await run('rx', 'nc -l -p 7000 > /dev/null; sleep 3600');
  const ip = c.NetworkSettings.Networks.bridge?.IPAddress ?? '';
  assert.ok(ip, 'the container has a bridge address');
  const before = await until('rx series', async () => value(await scrape(), 'container_network_receive_bytes_total', 'rx', 'interface="eth0"'));
  const N = 2 * 1024 * 1024;
  await until('nc listening', async () => new Promise<true | undefined>((resolve) => {
    const s = connect(7000, ip);
    s.on('connect', () => { s.end(Buffer.alloc(N, 7)); s.on('close', () => resolve(true)); });
    s.on('error', () => resolve(undefined));
  }), 15_000);
  const grown = await until('rx grown', async () => {
    const v = value(await scrape(), 'container_network_receive_bytes_total', 'rx', 'interface="eth0"');
    return v !== undefined && v - before >= N ? v - before : undefined;
  }, 15_000);
  assert.ok(grown >= N);
});

test('OOM kills are counted from the kernel and Docker events, and survive a restart of the server', async () => {
  // A child is OOM-killed (the container keeps running: the kernel counter is read) ... The OOM killer
  // sometimes takes the shell itself (seen on a loaded host): Docker starts it again, and its count,
  // keyed by the container's name, carries on.
  await run('oom', 'while :; do head -c 100000000 /dev/zero | tail > /dev/null; sleep 2; done', {
    Memory: 32 << 20, MemorySwap: 32 << 20, RestartPolicy: { Name: 'always' },
  });
  const first = await until('oom counted', async () => {
    const v = value(await scrape(), 'container_oom_events_total', 'oom');
    return v !== undefined && v >= 1 ? v : undefined;
  });
  // ... and an init that is OOM-killed takes its cgroup with it: Docker's event counts, the restart keeps it.
  await run('oominit', 'sleep 2; head -c 100000000 /dev/zero | tail > /dev/null', {
    Memory: 32 << 20, MemorySwap: 32 << 20, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
  });
  const initKills = await until('init oom counted', async () => {
    const v = value(await scrape(), 'container_oom_events_total', 'oominit');
    return v !== undefined && v >= 1 ? v : undefined;
  }, 45_000);
  assert.ok(initKills >= 1);
  await stopServer();
  await startServer();
  const after = await until('oom series after the restart', async () => value(await scrape(), 'container_oom_events_total', 'oom'), 45_000);
  const text = await scrape();
  assert.ok(after !== undefined && after >= first, `count after the restart (${after}) below the count before (${first})`);
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(lint.status, 0, `promtool: ${lint.stdout}${lint.stderr}`);
});
