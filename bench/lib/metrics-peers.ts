// bench/metrics: the workload and the peers. 100 busybox containers labelled as dockershim labelled a
// pod's container; dockerlet's collector as `dockerlet metrics` runs it (bundled, plain node; and
// through tsx as bin/dockerlet.js runs it), and cAdvisor (scripts/build-metrics-peers.sh) with the
// kubelet's label set. Scrape helpers: GETs with Accept-Encoding: gzip over one kept-alive connection.
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type Dockerode from 'dockerode';
import { startChild, type Child } from './proc.js';
import { groupCpu, median, quantile, round, sleep } from './metrics-stats.js';

export const BUSYBOX = 'dockerlet/busybox:1.36';
export const PREFIX = 'dkl-bench-metrics';
export const HOUSEKEEPING = '10s';
export const NODE = 'dkl-bench-metrics';
/** The kubelet's label set for cAdvisor: what the kubelet's /metrics/cadvisor derives pod, namespace and container from. */
export const KUBE_LABELS = ['io.kubernetes.container.name', 'io.kubernetes.pod.name', 'io.kubernetes.pod.namespace'];
export const CHILD = 'bench/lib/metrics-child.ts';

export type PeerName = 'dockerlet' | 'dockerlet[tsx]' | 'cadvisor';

export interface Peer {
  name: PeerName;
  start(port: number): Child;
  /** The endpoint measured and compared (dockerlet: the kubelet's /metrics/cadvisor). */
  path: string;
  /** A second endpoint whose scrapes are reported too (dockerlet: standalone /metrics). */
  extraPath?: string;
}

/**
 * Bundles the child with esbuild (packages external) into node_modules/.cache so that plain `node`
 * runs the collector: a process under tsx's loader burns CPU while idle, which would hide the
 * collector's own cost (the [tsx] variant measures it).
 */
export function bundleChild(): string {
  const out = 'node_modules/.cache/dockerlet-bench/metrics-child.mjs';
  const r = spawnSync('node_modules/.bin/esbuild', [CHILD, '--bundle', '--platform=node', '--format=esm', '--packages=external',
    `--outfile=${out}`, '--log-level=warning'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`esbuild: ${r.stderr}`);
  return out;
}

export function peers(bundle: string, cadvisorBin: string, state: (name: string) => string): Peer[] {
  return [
    {
      name: 'dockerlet', path: '/metrics/cadvisor', extraPath: '/metrics',
      start: (port) => startChild(process.execPath, [bundle, '--child', String(port), state('dockerlet')]),
    },
    {
      name: 'dockerlet[tsx]', path: '/metrics/cadvisor',
      start: (port) => startChild(process.execPath, ['--import', 'tsx', CHILD, '--child', String(port), state('tsx')]),
    },
    {
      name: 'cadvisor', path: '/metrics',
      start: (port) => startChild(cadvisorBin, ['--listen', `127.0.0.1:${port}`, '--docker_only', `--housekeeping_interval=${HOUSEKEEPING}`,
        '--max_housekeeping_interval=15s', '--store_container_labels=false', `--whitelisted_container_labels=${KUBE_LABELS.join(',')}`]),
    },
  ];
}

export async function makeContainers(docker: Dockerode, n: number): Promise<string[]> {
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

export async function removeContainers(docker: Dockerode): Promise<void> {
  const rows = await docker.listContainers({ all: true, filters: { label: ['dockerlet.bench=metrics'] } });
  let next = 0;
  await Promise.all(Array.from({ length: 6 }, async () => {
    while (next < rows.length) await docker.getContainer(rows[next++]!.Id).remove({ force: true }).catch(() => undefined);
  }));
}

export async function fetchText(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(20_000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

/** Waits until a scrape lists all n bench containers (bounded). */
export async function waitAll(url: string, n: number): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const text = await fetchText(url).catch(() => '');
    const names = new Set([...text.matchAll(new RegExp(`name="(${PREFIX}-\\d+)"`, 'g'))].map((m) => m[1]));
    if (names.size >= n) return;
    if (Date.now() > deadline) throw new Error(`${url} lists ${names.size} of ${n} containers after 90 s`);
    await sleep(1000);
  }
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
export async function scrapeTimes(url: string, scrapes: number, pgid: number) {
  const times: number[] = [];
  let bytes = 0;
  let wire = 0;
  // One kept-alive connection, as Prometheus scrapes a target.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const cpu0 = groupCpu(pgid);
  for (let i = 0; i < scrapes; i++) {
    const r = await timedGet(url, agent);
    times.push(r.ms);
    wire = r.body.length;
    bytes = r.gzip ? gunzipSync(r.body).length : r.body.length;
    await sleep(100);
  }
  const cpuMs = ((groupCpu(pgid).run - cpu0.run) * 1000) / scrapes;
  agent.destroy();
  return { p50: round(median(times)), p99: round(quantile(times, 0.99)), bytes, wire, cpuMs: round(cpuMs, 2) };
}
