// Shared pieces of the proxy end-to-end tests: the whole daemon (`dockerlet run`) on the agent's
// test bed with free-picked proxy health/metrics ports, a web Deployment behind Services, raw
// one-connection HTTP requests with their error codes, and the nat table's DOCKERLET rules.
import { execFile } from 'node:child_process';
import net from 'node:net';
import type { EndpointSlice, Node, Pod, Service } from '../../../kube/api.js';
import { allChainNames, chainRules, renderCleanup } from '../../../proxy/portals.js';
import { systemIptables } from '../../../proxy/iptables.js';
import { freePort } from '../../cluster/net.js';
import { startBed, type Bed } from '../agent/bed.js';

export const PREFIX = 'DOCKERLET';
export const IMAGE = 'dockerlet/busybox:1.36';

export interface DaemonBed {
  bed: Bed;
  healthzPort: number;
  metricsPort: number;
  /** (Re)starts the daemon with the bed's ports. */
  start(): Promise<void>;
}

/** A bed whose agent is the whole daemon (`run`); not started yet. */
export async function daemonBed(nodeName: string): Promise<DaemonBed> {
  const bed = await startBed({ nodeName, command: 'run' });
  // The harness grants nodes kube-proxy's role (system:node-proxier), as the README asks of a cluster.
  const healthzPort = await freePort('0.0.0.0');
  const metricsPort = await freePort('127.0.0.1');
  return {
    bed, healthzPort, metricsPort,
    // The default data path (the native relay; the pump where DOCKERLET_NATIVE_RELAY='' forces the fallback).
    start: () => bed.startAgent(['--proxy-healthz-port', String(healthzPort), '--proxy-metrics-port', String(metricsPort)]),
  };
}

export interface WebOptions {
  replicas: number;
  /** Readiness probe period (s); failureThreshold 1 so a failing pod leaves quickly. */
  probePeriodSeconds?: number;
}

/**
 * A busybox httpd Deployment (label app=<name>) serving its hostname on 8080, with a readiness probe
 * on /. /www is an emptyDir: a container restarted after `touch /www/slow` waits 5 s before serving.
 */
export function webDeployment(ns: string, name: string, o: WebOptions): string {
  return JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns },
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [{
            name: 'web', image: IMAGE, imagePullPolicy: 'IfNotPresent',
            command: ['sh', '-c', 'if [ -e /www/slow ]; then rm /www/slow; sleep 5; fi; hostname > /www/index.html; exec httpd -f -p 8080 -h /www'],
            ports: [{ containerPort: 8080 }],
            volumeMounts: [{ name: 'www', mountPath: '/www' }],
            readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: o.probePeriodSeconds ?? 1, failureThreshold: 1, successThreshold: 1, timeoutSeconds: 2 },
          }],
          volumes: [{ name: 'www', emptyDir: {} }],
        },
      },
    },
  });
}

/** A Service for app=<app> port 80 → 8080. */
export function webService(ns: string, name: string, app: string, spec: Partial<Service['spec']> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns },
    spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ...spec },
  });
}

const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Waits until exactly n live pods of app are Running and Ready; returns them. */
export function readyPods(bed: Bed, ns: string, app: string, n: number, timeoutMs = 120_000): Promise<Pod[]> {
  return bed.waitFor(async () => {
    const pods = (await bed.kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', `app=${app}`])).items;
    const live = pods.filter((p) => !p.metadata.deletionTimestamp);
    if (live.length !== n) return undefined;
    return live.every((p) => p.status?.phase === 'Running' && isReady(p)) ? live : undefined;
  }, { what: `${n} ${app} pods Running and Ready`, timeoutMs, intervalMs: 1000 });
}

/** The service's endpoints (all slices): pod IP → ready. */
export async function sliceEndpoints(bed: Bed, ns: string, svc: string): Promise<Map<string, boolean>> {
  const slices = (await bed.kubectlJson<{ items: EndpointSlice[] }>(['get', 'endpointslices', '-n', ns, '-l', `kubernetes.io/service-name=${svc}`])).items;
  const out = new Map<string, boolean>();
  for (const s of slices) for (const e of s.endpoints ?? []) if (e.addresses[0]) out.set(e.addresses[0], e.conditions?.ready ?? true);
  return out;
}

export async function getService(bed: Bed, ns: string, name: string): Promise<Service> {
  return bed.kubectlJson<Service>(['get', 'service', '-n', ns, name]);
}

export async function nodeInternalIP(bed: Bed): Promise<string> {
  const n: Node = await bed.node();
  const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (!ip) throw new Error(`node ${bed.nodeName} has no InternalIP`);
  return ip;
}

export interface HttpReply {
  ok: true;
  body: string;
}
export interface HttpFailure {
  ok: false;
  /** errno code (ECONNREFUSED, ECONNRESET, ...) or TIMEOUT, or EMPTY when the peer closed without a reply. */
  code: string;
}

/** One HTTP/1.0 GET / on a fresh TCP connection; never throws. */
export function httpGet(host: string, port: number, timeoutMs = 5000): Promise<HttpReply | HttpFailure> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (r: HttpReply | HttpFailure) => {
      if (done) return;
      done = true;
      s.destroy();
      resolve(r);
    };
    s.setTimeout(timeoutMs, () => finish({ ok: false, code: 'TIMEOUT' }));
    s.on('connect', () => s.write(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, code: err.code ?? err.message }));
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const i = text.indexOf('\r\n\r\n');
      if (!/^HTTP\/1\.[01] 200 /.test(text) || i < 0) finish({ ok: false, code: text ? `HTTP ${text.split('\r\n')[0]}` : 'EMPTY' });
      else finish({ ok: true, body: text.slice(i + 4).trim() });
    });
  });
}

/** httpGet that throws on failure and returns the body. */
export async function mustGet(host: string, port: number, timeoutMs = 5000): Promise<string> {
  const r = await httpGet(host, port, timeoutMs);
  if (!r.ok) throw new Error(`GET http://${host}:${port}/: ${r.code}`);
  return r.body;
}

/** Bodies (hostnames) seen over n sequential requests, with their counts; failures counted under "!code". */
export async function tally(host: string, port: number, n: number, timeoutMs = 5000): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await httpGet(host, port, timeoutMs);
    const k = r.ok ? r.body : `!${r.code}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return seen;
}

export function sh(cmd: string, args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

/** `iptables-save` of the two tables we write to, nat then filter. */
export const rulesSave = async () => `${await sh('iptables-save', ['-t', 'nat'])}\n${await sh('iptables-save', ['-t', 'filter'])}`;

/** Our footprint in a rulesSave() dump: chain declarations, jump rules from the builtins, rules in our chains. */
export function ourRules(save: string): { chains: string[]; jumps: string[]; serviceRules: string[] } {
  const names = allChainNames(PREFIX);
  const lines = save.split('\n').map((l) => l.trim());
  const chains = lines.filter((l) => names.some((n) => l.startsWith(`:${n} `)));
  const jumps = ['PREROUTING', 'OUTPUT', 'INPUT', 'FORWARD'].flatMap((c) => chainRules(save, c)).filter((l) => names.some((n) => l.includes(`-j ${n}`)));
  const serviceRules = names.flatMap((n) => chainRules(save, n));
  return { chains, jumps, serviceRules };
}

/** Removes every DOCKERLET jump and chain (test cleanup after a failure; a clean daemon exit does this itself). */
export async function removeOurRules(): Promise<void> {
  const r = ourRules(await rulesSave());
  if (r.chains.length === 0 && r.jumps.length === 0) return;
  await systemIptables.restore(renderCleanup(PREFIX, await systemIptables.listBuiltins()));
}

/** GETs a URL (loopback health/metrics) with Node's fetch; returns status and text. */
export async function fetchText(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

export interface OutsideClient {
  /** One `wget -qO-` (at most 3 s) per URL from inside the namespace; a line per URL, FAIL when it failed. */
  wget(urls: string[]): Promise<string[]>;
  remove(): Promise<void>;
}

/**
 * A network namespace standing in for a client outside this node: a veth pair 198.18.250.1/30 (host
 * side) ↔ 198.18.250.2/30 with its default route via the host, so its traffic enters through
 * PREROUTING like a remote client's, not from the pods' bridge and not from the host itself.
 */
export async function outsideClient(name = 'dl-px-out'): Promise<OutsideClient> {
  const ip = (...args: string[]) => sh('ip', args);
  await ip('netns', 'del', name).catch(() => undefined); // a previous run's leftover
  await ip('netns', 'add', name);
  const remove = async () => { await ip('netns', 'del', name).catch(() => undefined); };
  try {
    await ip('link', 'add', `${name}0`, 'type', 'veth', 'peer', 'name', `${name}1`, 'netns', name);
    await ip('addr', 'add', '198.18.250.1/30', 'dev', `${name}0`);
    await ip('link', 'set', `${name}0`, 'up');
    await ip('-n', name, 'addr', 'add', '198.18.250.2/30', 'dev', `${name}1`);
    await ip('-n', name, 'link', 'set', `${name}1`, 'up');
    await ip('-n', name, 'link', 'set', 'lo', 'up');
    await ip('-n', name, 'route', 'add', 'default', 'via', '198.18.250.1');
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    async wget(urls) {
      // busybox 1.35's wget crashes with -T; coreutils timeout bounds each request instead.
      const script = urls.map((u) => `timeout 3 busybox wget -qO- ${u} 2>/dev/null || echo FAIL`).join('; ');
      return (await sh('ip', ['netns', 'exec', name, 'sh', '-c', script])).split('\n').map((l) => l.trim()).filter(Boolean);
    },
    remove,
  };
}
