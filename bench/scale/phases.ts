// The measured phases of bench/proxy-scale.ts, each on a fresh network namespace per proxy:
// full sync (a start with N Services present: its first sync is the full one, as kube-proxy's
// sync_full_proxy_rules histogram counts it), endpoint churn (bounded rate and time; one churning
// Service gets new endpoints every second and a client keeps connecting to it), idle connections held.
import { readdirSync } from 'node:fs';
import { readProcUsage, clockTicks } from '../lib/pod-agent.js';
import { updateSlice, SERVICE_PORT, type Api } from './api.js';
import { createNetns, endpointIP, type Netns } from './netns.js';
import { diffHist, parseHistogram, pct, quantile, scrape } from './prom.js';
import { startHaproxy, startProbe, startTarget, type Probe, type Running, type TargetEnv, type TargetName } from './targets.js';

export interface Bed {
  env: TargetEnv;
  api: Api;
  serviceCidr: string;
  apiserverIP: string;
  /** ClusterIP of service i. */
  clusterIP(i: number): string;
  /** Services created so far. */
  serviceCount(): number;
}

const SYNC_METRIC = 'kubeproxy_sync_proxy_rules_duration_seconds';
const FULL_SYNC_METRIC = 'kubeproxy_sync_full_proxy_rules_duration_seconds';
const PROGRAMMING_METRIC = 'kubeproxy_network_programming_duration_seconds';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number | null, d = 4) => (v === null ? null : Number(v.toFixed(d)));

export function fds(pid: number): number {
  try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return -1; }
}

let nsCount = 0;
async function freshNetns(bed: Bed): Promise<Netns> {
  const k = nsCount++ % 50;
  return createNetns(`pscale-${k}`, `psc${k}`, 200 + k, bed.serviceCidr, bed.apiserverIP);
}

/** Waits for the first (full) sync; returns its duration in seconds (the histogram's sum at count 1), null after timeoutMs. */
async function firstSync(r: Running, timeoutMs: number): Promise<number | null> {
  const name = r.name === 'dockerlet' ? SYNC_METRIC : FULL_SYNC_METRIC;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (r.child.proc.exitCode !== null) throw new Error(`${r.name} exited: ${r.child.output()}`);
    // dockerlet's scrape carries per-Service series: no scrape before its listeners are open (fds), so the
    // bench does not load it in the middle of the sync it measures.
    if (r.name === 'dockerlet' && r.services !== undefined && fds(r.pid) < r.services) { await sleep(250); continue; }
    const h = await scrape(r.metricsUrl).then((t) => parseHistogram(t, name), () => null);
    if (h && h.count >= 1) return h.sum / h.count;
    // The duration comes from the histogram, whenever it is read; polling more often would only load
    // the proxy (dockerlet's scrape carries per-Service series).
    await sleep(2000);
  }
  return null;
}

/** sync_s null: the first sync had not finished after timed_out_after_s (a censored sample). */
export interface FullSyncSample { sync_s: number | null; timed_out_after_s?: number; ready_s: number | null; rss_kib: number; fds: number }

async function measureFirstSync(r: Running, t0: number, timeoutMs: number): Promise<FullSyncSample> {
  const sync = await firstSync(r, timeoutMs);
  const ready = (Date.now() - t0) / 1000;
  if (sync !== null) await sleep(1000);
  const u = readProcUsage(r.pid);
  return {
    sync_s: round(sync), ...(sync === null ? { timed_out_after_s: round(ready, 1)! } : {}),
    ready_s: sync === null ? null : round(ready, 2), rss_kib: u?.rssKiB ?? -1, fds: fds(r.pid),
  };
}

export async function fullSync(bed: Bed, target: TargetName, timeoutMs: number): Promise<FullSyncSample> {
  const ns = await freshNetns(bed);
  try {
    const t0 = Date.now();
    const r = await startTarget(target, ns, bed.env);
    r.services = bed.serviceCount();
    try {
      return await measureFirstSync(r, t0, timeoutMs);
    } finally {
      await r.stop();
    }
  } finally {
    await ns.remove();
  }
}

export interface ChurnResult {
  updates_sent: number;
  updates_failed: number;
  achieved_rate_per_s: number;
  programming_e2e_s: { p50: number | null; p99: number | null; samples: number; missed: number };
  programming_metric_s: { p50: number | null; p99: number | null; count: number };
  sync_during_churn_s: { p50: number | null; p99: number | null; count: number };
  cpu_seconds: number;
  rss_kib_max: number;
  rss_kib_start: number;
  fds: number;
  client: Record<string, unknown>;
}

/** The churning Service's endpoints of generation g: addresses never used by another generation in this run. */
function genIPs(g: number): string[] {
  return [0, 1, 2].map((j) => endpointIP(40_000 + ((g * 3 + j) % 20_000)));
}

/**
 * One start at the largest scale: its first (full) sync is a full-sync sample, then (when it finished
 * within timeoutMs) the churn runs on the same instance, in steady state.
 */
export async function syncThenChurn(
  bed: Bed, target: TargetName, o: { services: number; rate: number; seconds: number; seed: number; timeoutMs: number },
): Promise<{ full: FullSyncSample; churn: ChurnResult | { skipped: string } }> {
  const ns = await freshNetns(bed);
  try {
    const t0 = Date.now();
    const r = await startTarget(target, ns, bed.env);
    r.services = bed.serviceCount();
    const probe = await startProbe(ns).catch(async (err) => { await r.stop(); throw err; });
    try {
      const full = await measureFirstSync(r, t0, o.timeoutMs);
      if (full.sync_s === null) return { full, churn: { skipped: `its first sync had not finished after ${full.timed_out_after_s} s` } };
      return { full, churn: await churnOn(bed, r, probe, o) };
    } finally {
      await probe.stop();
      await r.stop();
    }
  } finally {
    await ns.remove();
  }
}

async function churnOn(bed: Bed, r: Running, probe: Probe, o: { services: number; rate: number; seconds: number; seed: number }): Promise<ChurnResult> {
  // Service 0 starts from a generation of its own, so every churn generation is new to every proxy.
  await updateSlice(bed.api, 0, genIPs(0));
  await sleep(3000);
  const m0 = await scrape(r.metricsUrl);
  const u0 = readProcUsage(r.pid)!;
  probe.send({ cmd: 'client', host: bed.clusterIP(0), port: SERVICE_PORT, perSecond: 50, seconds: o.seconds + 5 });
  let rss = u0.rssKiB;
  const sampler = setInterval(() => { rss = Math.max(rss, readProcUsage(r.pid)?.rssKiB ?? 0); }, 500);
  const sent = new Map<number, number>();
  let failed = 0;
  let inflight = 0;
  let rnd = o.seed >>> 0;
  const rand = () => { rnd = (rnd * 1664525 + 1013904223) >>> 0; return rnd / 2 ** 32; };
  const total = o.rate * o.seconds;
  const t0 = Date.now();
  const pending: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const wait = t0 + (k * 1000) / o.rate - Date.now();
    if (wait > 0) await sleep(wait);
    while (inflight >= 64) await sleep(1);
    let i: number;
    let ips: string[];
    if (k % o.rate === 0) {
      const g = 1 + k / o.rate;
      i = 0;
      ips = genIPs(g);
      probe.send({ cmd: 'watch', gen: g, ips });
      sent.set(g, Date.now());
    } else {
      i = 1 + Math.floor(rand() * (o.services - 1));
      ips = [0, 1, 2].map(() => endpointIP(Math.floor(rand() * 3 * o.services)));
    }
    inflight++;
    pending.push(updateSlice(bed.api, i, ips).catch(() => { failed++; }).finally(() => { inflight--; }));
  }
  await Promise.all(pending);
  const elapsed = (Date.now() - t0) / 1000;
  await sleep(5000);
  const client = await probe.next('client', 30_000);
  clearInterval(sampler);
  const u1 = readProcUsage(r.pid)!;
  const m1 = await scrape(r.metricsUrl);
  const hits = new Map(probe.drain('hit').map((h) => [h.gen as number, h.t as number]));
  const lat: number[] = [];
  for (const [g, t] of sent) { const h = hits.get(g); if (h !== undefined) lat.push((h - t) / 1000); }
  const prog = diffHist(parseHistogram(m1, PROGRAMMING_METRIC), parseHistogram(m0, PROGRAMMING_METRIC));
  const syncs = diffHist(parseHistogram(m1, SYNC_METRIC), parseHistogram(m0, SYNC_METRIC));
  return {
    updates_sent: total, updates_failed: failed, achieved_rate_per_s: round(total / elapsed, 1)!,
    programming_e2e_s: { p50: round(pct(lat, 0.5)), p99: round(pct(lat, 0.99)), samples: lat.length, missed: sent.size - lat.length },
    programming_metric_s: { p50: round(quantile(prog, 0.5)), p99: round(quantile(prog, 0.99)), count: prog.count },
    sync_during_churn_s: { p50: round(quantile(syncs, 0.5)), p99: round(quantile(syncs, 0.99)), count: syncs.count },
    cpu_seconds: round((u1.cpuTicks - u0.cpuTicks) / clockTicks(), 2)!,
    rss_kib_max: rss, rss_kib_start: u0.rssKiB, fds: fds(r.pid), client,
  };
}

export interface IdleResult { held: number; failed: number; rss_kib_before: number; rss_kib_after: number; bytes_per_conn: number | null; fds: number }

/** n idle connections through dockerlet (to Service 0's ClusterIP) or HAProxy (to the same three endpoints). */
export async function idle(bed: Bed, who: 'dockerlet' | 'haproxy', n: number): Promise<IdleResult> {
  const ns = await freshNetns(bed);
  try {
    let pid: number;
    let stop: () => Promise<void>;
    let output: () => string;
    let host: string;
    let port: number;
    if (who === 'dockerlet') {
      const r = await startTarget('dockerlet', ns, bed.env);
      r.services = bed.serviceCount();
      stop = r.stop;
      output = r.child.output;
      pid = r.pid;
      if ((await firstSync(r, 300_000).catch(async (err) => { await stop(); throw err; })) === null) {
        await stop();
        throw new Error(`dockerlet did not sync within 300 s: ${output().slice(-2000)}`);
      }
      host = bed.clusterIP(0);
      port = SERVICE_PORT;
    } else {
      const h = await startHaproxy(ns, bed.env.dir, genIPs(0).map((ip) => `${ip}:8080`), 9090, n + 50);
      stop = h.child.stop;
      output = h.child.output;
      pid = h.pid;
      host = '127.0.0.1';
      port = 9090;
    }
    const probe = await startProbe(ns).catch(async (err) => { await stop(); throw err; });
    try {
      // Warm up (first connections allocate per-process structures), then the baseline.
      probe.send({ cmd: 'hold', host, port, n: 50, parallel: 10 });
      await probe.next('held', 60_000);
      probe.send({ cmd: 'release' });
      await probe.next('released', 10_000);
      await sleep(2000);
      const usage = () => {
        const u = readProcUsage(pid);
        if (!u) throw new Error(`${who} is gone: ${output().slice(-2000)}`);
        return u;
      };
      const before = usage().rssKiB;
      probe.send({ cmd: 'hold', host, port, n, parallel: 50 });
      const held = await probe.next('held', 300_000);
      await sleep(3000);
      const after = usage().rssKiB;
      const count = held.n as number;
      const f = fds(pid);
      probe.send({ cmd: 'release' });
      await probe.next('released', 30_000);
      return { held: count, failed: held.failed as number, rss_kib_before: before, rss_kib_after: after, bytes_per_conn: count ? Math.round(((after - before) * 1024) / count) : null, fds: f };
    } finally {
      await probe.stop();
      await stop();
    }
  } finally {
    await ns.remove();
  }
}
