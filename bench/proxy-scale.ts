// Proxy at scale (issue 18): dockerlet's proxy beside upstream kube-proxy (iptables and nftables modes,
// built by scripts/build-kube-proxy.sh at the control plane's version), each in a network namespace of
// its own with its own node name, against one real control plane (test/cluster/harness.ts).
//  1. 1,000 then 5,000 ClusterIP Services (one TCP port, 3 endpoints each in EndpointSlices written
//     directly through the API, no pods): full sync duration (a fresh start's first sync, read from
//     each proxy's own histogram: kubeproxy_sync_proxy_rules / _sync_full_proxy_rules), RSS, fds;
//  2. endpoint churn at 5,000 (100 EndpointSlice updates/s for 60 s): network programming latency —
//     dockerlet end to end (slice written → a connection through the ClusterIP reaches the new
//     endpoint, at 50 connections/s whose failures are counted) and the metric for all; CPU seconds,
//     RSS, fds during churn;
//  3. memory per idle proxied connection at 10,000 connections, dockerlet vs HAProxy (1 thread).
// Targets run one at a time, in a shuffled order per repetition. Writes bench/results/proxy-scale.json.
// Args: --services 1000,5000  --reps 3  --reps-last (default --reps)  --churn-seconds 60  --churn-rate 100  --idle 10000  --sync-timeout 420 (s)
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startControlPlane } from '../test/cluster/harness.js';
import { defaultRouteIPv4 } from '../test/cluster/net.js';
import { shuffled } from './lib/proxy-stats.js';
import { apiFor, createServices, ensureNamespace, ensureNode } from './scale/api.js';
import { endpointIP } from './scale/netns.js';
import { fullSync, idle, syncThenChurn, type Bed, type ChurnResult, type FullSyncSample, type IdleResult } from './scale/phases.js';
import { pct } from './scale/prom.js';
import { nodeName, type TargetName } from './scale/targets.js';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const TARGETS: TargetName[] = ['dockerlet', 'kube_proxy_iptables', 'kube_proxy_nftables'];

function arg(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
}

const load1 = () => Number(loadavg()[0]!.toFixed(2));
const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

export async function main(args: string[]): Promise<void> {
  const scales = arg(args, 'services', '1000,5000').split(',').map(Number);
  const reps = Number(arg(args, 'reps', '3'));
  // Repetitions at the largest scale (kube-proxy's iptables mode alone can take minutes per start there).
  const repsLast = Number(arg(args, 'reps-last', String(reps)));
  const churnSeconds = Math.min(Number(arg(args, 'churn-seconds', '60')), 120);
  const churnRate = Math.min(Number(arg(args, 'churn-rate', '100')), 200);
  // Each idle connection costs the proxy 2 fds and the probe 2 (client and endpoint side): the hard
  // RLIMIT_NOFILE of this machine bounds it (20,000 here, and it cannot be raised inside this container).
  const hardNofile = Number((await execFileP('sh', ['-c', 'ulimit -Hn'])).stdout.trim()) || 20_000;
  const syncTimeoutMs = Number(arg(args, 'sync-timeout', '420')) * 1000;
  // dockerlet holds a listening socket per Service per relay thread (one per core, at most 4) at the idle scale.
  const listenerFds = Math.min(4, cpus().length) * scales[0]!;
  const idleN = Math.min(Number(arg(args, 'idle', '10000')), Math.floor((hardNofile - listenerFds - 1000) / 2));
  const loadStart = load1();
  const startedAt = new Date().toISOString();
  const kubeProxyBin = (await execFileP('bash', [path.join(here, '../scripts/build-kube-proxy.sh')], { timeout: 1_800_000 })).stdout.trim().split('\n').at(-1)!;
  const kubeProxyVersion = (await execFileP(kubeProxyBin, ['--version'])).stdout.trim();
  log(`kube-proxy ${kubeProxyVersion}; starting the control plane`);
  const cp = await startControlPlane({ timeoutMs: 180_000 });
  const dir = await mkdtemp(path.join(tmpdir(), 'proxy-scale-'));
  const api = apiFor(cp.adminKubeconfigPath);
  try {
    const apiserverIP = defaultRouteIPv4();
    // The same admin credential, at an address reachable from inside the namespaces (in the serving cert's SANs).
    const kubeconfig = path.join(dir, 'netns.kubeconfig');
    await writeFile(kubeconfig, (await readFile(cp.adminKubeconfigPath, 'utf8')).replace(/server: https:\/\/127\.0\.0\.1:/g, `server: https://${apiserverIP}:`));
    await ensureNamespace(api);
    for (const t of TARGETS) await ensureNode(api, nodeName(t), '169.254.200.2');
    const clusterIPs = new Map<number, string>();
    const bed: Bed = {
      env: { dir, kubeconfig, kubeProxyBin }, api, serviceCidr: cp.serviceCidr, apiserverIP,
      clusterIP: (i) => { const ip = clusterIPs.get(i); if (!ip) throw new Error(`no ClusterIP for service ${i}`); return ip; },
      serviceCount: () => clusterIPs.size,
    };
    const full: Record<string, Record<TargetName, FullSyncSample[]>> = {};
    const idles: Partial<Record<'dockerlet' | 'haproxy', IdleResult>> = {};
    let created = 0;
    const churned: Partial<Record<TargetName, ChurnResult | { skipped: string }>> = {};
    for (const n of scales) {
      const t = Date.now();
      for (const [i, ip] of await createServices(api, created, n, (i) => [0, 1, 2].map((j) => endpointIP(3 * i + j)))) clusterIPs.set(i, ip);
      log(`created services ${created}..${n - 1} in ${((Date.now() - t) / 1000).toFixed(1)} s (load ${load1()})`);
      created = n;
      const per = Object.fromEntries(TARGETS.map((x) => [x, [] as FullSyncSample[]])) as Record<TargetName, FullSyncSample[]>;
      const lastScale = n === scales.at(-1);
      for (let rep = 0; rep < (lastScale ? repsLast : reps); rep++) {
        for (const target of shuffled(TARGETS)) {
          // At the largest scale the first start goes on with the churn (one full sync less to wait for).
          let s: FullSyncSample;
          if (lastScale && rep === 0) {
            const r = await syncThenChurn(bed, target, { services: n, rate: churnRate, seconds: churnSeconds, seed: 18, timeoutMs: syncTimeoutMs });
            s = r.full;
            churned[target] = r.churn;
            log(`churn ${target}: ${JSON.stringify(r.churn)} (load ${load1()})`);
          } else {
            s = await fullSync(bed, target, syncTimeoutMs);
          }
          per[target].push(s);
          log(`full sync ${n} ${target} rep ${rep}: ${JSON.stringify(s)} (load ${load1()})`);
        }
      }
      full[String(n)] = per;
      // Idle connections at the first scale (its listeners leave the fds for them; see idleN).
      if (n === scales[0]) {
        for (const who of shuffled(['dockerlet', 'haproxy'] as const)) {
          idles[who] = await idle(bed, who, idleN);
          log(`idle ${who} at ${n} services: ${JSON.stringify(idles[who])} (load ${load1()})`);
        }
      }
    }
    const last = created;
    // A censored sample (no sync within the timeout) counts as its timeout: the quantiles are then lower bounds.
    const summary = (xs: FullSyncSample[]) => {
      const v = xs.map((x) => x.sync_s ?? x.timed_out_after_s ?? 0);
      const censored = xs.some((x) => x.sync_s === null);
      return {
        sync_p50_s: pct(v, 0.5), sync_p99_s: pct(v, 0.99), ...(censored ? { at_least: true, censored_samples: xs.filter((x) => x.sync_s === null).length } : {}),
        rss_kib_max: Math.max(...xs.map((x) => x.rss_kib)), fds_max: Math.max(...xs.map((x) => x.fds)), samples: xs,
      };
    };
    const fullSummary = Object.fromEntries(Object.entries(full).map(([n, per]) => [n, Object.fromEntries(Object.entries(per).map(([t, xs]) => [t, summary(xs)]))]));
    const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b ? Number((a / b).toFixed(3)) : null);
    const done = (c: ChurnResult | { skipped: string } | undefined) => (c && 'programming_e2e_s' in c ? c : undefined);
    const big = fullSummary[String(last)] as Record<TargetName, ReturnType<typeof summary>>;
    const ratios = {
      sync_p99_5k_vs_kube_proxy_iptables: ratio(big.dockerlet.sync_p99_s, big.kube_proxy_iptables.sync_p99_s),
      sync_p99_5k_vs_kube_proxy_nftables: ratio(big.dockerlet.sync_p99_s, big.kube_proxy_nftables.sync_p99_s),
      programming_p99_churn_vs_kube_proxy_iptables: ratio(done(churned.dockerlet)?.programming_e2e_s.p99, done(churned.kube_proxy_iptables)?.programming_metric_s.p99),
      programming_p99_churn_vs_kube_proxy_nftables: ratio(done(churned.dockerlet)?.programming_e2e_s.p99, done(churned.kube_proxy_nftables)?.programming_metric_s.p99),
      bytes_per_idle_conn_vs_haproxy: ratio(idles.dockerlet?.bytes_per_conn, idles.haproxy?.bytes_per_conn),
    };
    // Against a censored peer (no full sync within the timeout) a ratio is an upper bound.
    const upperBounds = (['kube_proxy_iptables', 'kube_proxy_nftables'] as const).filter((t) => 'at_least' in big[t]).map((t) => `sync_p99_5k_vs_${t}`);
    const out = {
      bench: 'proxy-scale', started_at: startedAt, finished_at: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), loadavg1_at_start: loadStart, loadavg1_at_end: load1() },
      versions: { kube_proxy: kubeProxyVersion, node: process.version },
      params: { scales, reps, reps_last: repsLast, sync_timeout_s: syncTimeoutMs / 1000, churn_rate_per_s: churnRate, churn_seconds: churnSeconds, idle_connections: idleN, idle_at_services: scales[0], hard_nofile: hardNofile, endpoints_per_service: 3 },
      ratios, ratios_upper_bounds: upperBounds, full_sync: fullSummary, churn: churned, idle: idles,
      notes: [
        'Each proxy runs alone in a fresh network namespace of the bench (veth to the host for the API server; the endpoints are local addresses of that namespace), one at a time, targets in a shuffled order per repetition.',
        'Full sync: a start with all Services present (at the largest scale the first repetition\'s instance then runs the churn); its first sync (kube-proxy: kubeproxy_sync_full_proxy_rules_duration_seconds; dockerlet: kubeproxy_sync_proxy_rules_duration_seconds, count 1) — p99 of few samples is their maximum. A sample without a sync within sync_timeout_s counts as that timeout (at_least: the quantile is a lower bound, and a ratio against it an upper bound).',
        'Programming latency: dockerlet end to end (EndpointSlice PUT → the first connection through the ClusterIP that reaches the new endpoints, probed at 50 connections/s, so ±20 ms), kube-proxy from its kubeproxy_network_programming_duration_seconds (trigger-time annotation → rules synced; buckets 0.25 s wide below 1 s, 1 s above). dockerlet\'s own metric beside.',
        'Idle connections: RSS delta of the proxy process over N idle connections after a warm-up, divided by N (kernel socket memory is the same for both and not counted).',
      ],
    };
    const file = path.join(here, 'results/proxy-scale.json');
    await writeFile(file, `${JSON.stringify(out, null, 2)}\n`);
    log(`ratios ${JSON.stringify(ratios)}; wrote ${file}`);
  } finally {
    api.close();
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// Direct run: `tsx bench/proxy-scale.ts [args]` (the registered way is `npm run bench -- proxy-scale`).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
  process.exit(0);
}
