// The proxies under test, each started inside its own bench network namespace: dockerlet's proxy
// (`dockerlet proxy`, the product's CLI) and upstream kube-proxy (scripts/build-kube-proxy.sh) in
// iptables and nftables mode, each with a node name of its own, metrics on the namespace's veth
// address; and HAProxy as the idle-connection peer. Also the probe process of bench/scale/probe.ts.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startChild, type Child } from '../lib/proc.js';
import type { Netns } from './netns.js';

export type TargetName = 'dockerlet' | 'kube_proxy_iptables' | 'kube_proxy_nftables';
export const METRICS_PORT = 10249;
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Running {
  name: TargetName;
  child: Child;
  pid: number;
  metricsUrl: string;
  /** How many Services it is expected to serve (when the bench knows). */
  services?: number;
  stop(): Promise<void>;
}

export interface TargetEnv {
  dir: string;
  /** Kubeconfig whose server is reachable from inside the namespaces. */
  kubeconfig: string;
  kubeProxyBin: string;
}

function inNetns(ns: Netns, cmd: string, args: string[], env?: NodeJS.ProcessEnv): Child {
  return startChild('ip', ['netns', 'exec', ns.name, cmd, ...args], { env: env ?? process.env, cwd: repo });
}

/** The node name each proxy under test runs as (its Node object is created by the bench). */
export function nodeName(t: TargetName): string {
  return `bench-${t.replace(/_/g, '-')}`;
}

export async function startTarget(name: TargetName, ns: Netns, env: TargetEnv): Promise<Running> {
  const node = nodeName(name);
  let child: Child;
  if (name === 'dockerlet') {
    const cfg = path.join(env.dir, `${ns.name}-dockerlet.yaml`);
    await writeFile(cfg, [
      `kubeconfig: ${env.kubeconfig}`, `nodeName: ${node}`, 'logLevel: warn', 'proxy:',
      '  metricsBindAddress: 0.0.0.0', `  metricsPort: ${METRICS_PORT}`, '  healthzPort: -1', "  podBridgeInterface: ''", '',
    ].join('\n'));
    child = inNetns(ns, process.execPath, [path.join(repo, 'bin/dockerlet.js'), 'proxy', '--config', cfg]);
  } else {
    const mode = name === 'kube_proxy_iptables' ? 'iptables' : 'nftables';
    const cfg = path.join(env.dir, `${ns.name}-kube-proxy.yaml`);
    // conntrack sizes/timeouts 0: kube-proxy leaves the (host-wide) conntrack sysctls alone.
    await writeFile(cfg, [
      'apiVersion: kubeproxy.config.k8s.io/v1alpha1', 'kind: KubeProxyConfiguration',
      `clientConnection:\n  kubeconfig: ${env.kubeconfig}`, `hostnameOverride: ${node}`, `mode: ${mode}`,
      `bindAddress: ${ns.nsIP}`, `metricsBindAddress: 0.0.0.0:${METRICS_PORT}`, 'healthzBindAddress: 0.0.0.0:10256',
      'conntrack:\n  maxPerCore: 0\n  min: 0\n  tcpEstablishedTimeout: 0s\n  tcpCloseWaitTimeout: 0s\n  udpTimeout: 0s\n  udpStreamTimeout: 0s',
      'iptables:\n  syncPeriod: 30s\n  minSyncPeriod: 1s', 'nftables:\n  syncPeriod: 30s\n  minSyncPeriod: 1s', '',
    ].join('\n'));
    child = inNetns(ns, env.kubeProxyBin, ['--config', cfg, '--v=1']);
  }
  const pid = child.proc.pid!;
  return { name, child, pid, metricsUrl: `http://${ns.nsIP}:${METRICS_PORT}/metrics`, stop: () => child.stop() };
}

export async function startHaproxy(ns: Netns, dir: string, backends: string[], port: number, maxconn: number): Promise<{ child: Child; pid: number }> {
  const cfg = path.join(dir, `${ns.name}-haproxy.cfg`);
  await writeFile(cfg, [
    'global', '  nbthread 1', `  maxconn ${maxconn}`,
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 10m', '  timeout server 10m',
    `frontend f\n  bind 0.0.0.0:${port}\n  maxconn ${maxconn}\n  default_backend b`,
    `backend b\n  balance roundrobin\n${backends.map((b, i) => `  server s${i} ${b}`).join('\n')}`, '',
  ].join('\n'));
  const child = inNetns(ns, 'haproxy', ['-db', '-f', cfg]);
  return { child, pid: child.proc.pid! };
}

export interface Probe {
  send(cmd: Record<string, unknown>): void;
  /** Next event of kind ev (bounded wait). */
  next(ev: string, timeoutMs: number): Promise<Record<string, unknown>>;
  /** Every event of kind ev so far (drained). */
  drain(ev: string): Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startProbe(ns: Netns): Promise<Probe> {
  const proc = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '--import', 'tsx', path.join(repo, 'bench/scale/probe.ts')], { cwd: repo, stdio: ['pipe', 'pipe', 'inherit'] });
  const events: Record<string, unknown>[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    try { events.push(JSON.parse(l) as Record<string, unknown>); } catch { /* not ours */ }
  });
  const probe: Probe = {
    send: (cmd) => { proc.stdin!.write(`${JSON.stringify(cmd)}\n`); },
    async next(ev, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = events.findIndex((e) => e.ev === ev);
        if (i >= 0) return events.splice(i, 1)[0]!;
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`probe in ${ns.name}: no '${ev}' event within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    drain(ev) {
      const out = events.filter((e) => e.ev === ev);
      for (const e of out) events.splice(events.indexOf(e), 1);
      return out;
    },
    async stop() {
      if (proc.exitCode !== null) return;
      proc.stdin!.end();
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await new Promise((r) => proc.once('exit', r));
      clearTimeout(t);
    },
  };
  await probe.next('ready', 30_000);
  return probe;
}
