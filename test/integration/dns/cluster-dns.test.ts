// Cluster DNS end to end on the single-node bed: real CoreDNS (scripts/build-coredns.sh) deployed from
// examples/coredns/coredns.yaml as kube-system/kube-dns at 10.96.0.10, the whole daemon (`dockerlet run`)
// with clusterDNS in its config file. A ClusterFirst pod's /etc/resolv.conf is the kubelet's
// (pkg/kubelet/network/dns GetPodDNS); names resolve through the daemon's own proxy (pod → 10.96.0.10:53
// UDP); a headless Service gives the pod IPs. CoreDNS runs without `forward`: no query leaves the host,
// and the test only asks for names inside cluster.local.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { CoreEvent, Pod, Service } from '../../../kube/api.js';
import { renderCleanup } from '../../../proxy/portals.js';
import { systemIptables } from '../../../proxy/iptables.js';
import { COREDNS_MANIFEST, deployClusterDns, ensureCorednsImage } from '../../cluster/dns.js';
import { freePort } from '../../cluster/net.js';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = `dns-${process.pid}`;
const NS = `dns-${process.pid}`;
const PREFIX = `DNS${process.pid % 100_000}`;
const DNS_IP = '10.96.0.10';
const BUSYBOX = 'dockerlet/busybox:1.36';
let bed: Bed;
/** The daemon's flags without cluster DNS: its own iptables chain prefix (config file) and free proxy ports. */
let baseArgs: string[];

const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

function clientPod(name: string, spec: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
    spec: {
      nodeName: NODE, terminationGracePeriodSeconds: 1, ...spec,
      containers: [{ name: 'main', image: BUSYBOX, imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
    },
  });
}

async function readyPods(app: string, n: number): Promise<Pod[]> {
  return bed.waitFor(async () => {
    const pods = (await bed.kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', NS, '-l', `app=${app}`])).items;
    return pods.length === n && pods.every(isReady) ? pods : undefined;
  }, { what: `${n} ${app} pods ready`, timeoutMs: 90_000 });
}

/** Runs a shell command in the pod's container; its output (stdout and stderr) and exit status. */
async function sh(pod: string, cmd: string): Promise<{ out: string; rc: number }> {
  const out = await bed.exec(NS, pod, 'main', ['sh', '-c', `${cmd} 2>&1; echo "rc=$?"`]);
  const m = /rc=(\d+)\s*$/.exec(out);
  return { out: out.replace(/rc=\d+\s*$/, ''), rc: Number(m?.[1] ?? -1) };
}

/** busybox nslookup -type=a in the pod: the addresses under each "Name:" line, the output and exit status. */
async function lookup(pod: string, name: string): Promise<{ answers: Map<string, string[]>; out: string; rc: number }> {
  const { out, rc } = await sh(pod, `nslookup -type=a ${name}`);
  const answers = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of out.split('\n').map((l) => l.trim())) {
    const n = /^Name:\s*(\S+)$/.exec(line);
    if (n) answers.set(n[1]!, (current = answers.get(n[1]!) ?? []));
    const a = /^Address:\s*(\S+)$/.exec(line);
    if (a && current) current.push(a[1]!);
    if (!line) current = undefined;
  }
  for (const v of answers.values()) v.sort();
  return { answers, out, rc };
}

/** nslookup of a fully qualified name: it must succeed; its addresses. */
async function nslookup(pod: string, name: string): Promise<string[]> {
  const { answers, out, rc } = await lookup(pod, name);
  assert.equal(rc, 0, `nslookup ${name}:\n${out}`);
  assert.deepEqual([...answers.keys()], [name], out);
  return answers.get(name)!;
}

before(async () => {
  const image = await ensureCorednsImage();
  bed = await startBed({ nodeName: NODE, command: 'run' });
  const configPath = join(bed.dir, 'dockerlet.yaml');
  writeFileSync(configPath, `proxy:\n  chainPrefix: ${PREFIX}\n`);
  baseArgs = ['--config', configPath, '--proxy-healthz-port', String(await freePort('0.0.0.0')), '--proxy-metrics-port', String(await freePort('127.0.0.1'))];
  await bed.startAgent([...baseArgs, '--cluster-dns', DNS_IP, '--cluster-domain', 'cluster.local']);
  await deployClusterDns({ kubeconfig: bed.cp.adminKubeconfigPath, image, replicas: 1, timeoutMs: 120_000 });
  await bed.kubectl(['create', 'namespace', NS]);
  await bed.apply(JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: NS },
        spec: {
          replicas: 2, selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [{
                name: 'web', image: BUSYBOX, imagePullPolicy: 'Never',
                command: ['sh', '-c', 'mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'],
                ports: [{ containerPort: 8080 }],
                readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
              }],
            },
          },
        },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-headless', namespace: NS }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 8080 }] } },
      JSON.parse(clientPod('client')) as unknown,
      // ClusterFirst with spec.dnsConfig merged on top (a search appended, ndots replaced, an option added).
      JSON.parse(clientPod('custom', { dnsConfig: { searches: ['extra.test'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] } })) as unknown,
    ],
  }));
  await readyPods('web', 2);
  for (const pod of ['client', 'custom']) await bed.waitFor(async () => isReady((await bed.pod(NS, pod))!), { what: `${pod} pod ready`, timeoutMs: 60_000 });
});

after(async () => {
  await bed?.stop();
  // The daemon removes its chains on a clean exit; after a crash they would be left behind.
  await systemIptables.restore(renderCleanup(PREFIX, await systemIptables.listBuiltins())).catch(() => undefined);
});

test('examples/coredns/coredns.yaml as people apply it passes the apiserver (server-side dry run, strict fields)', async () => {
  const out = await bed.kubectl(['apply', '--dry-run=server', '--validate=strict', '-f', COREDNS_MANIFEST]);
  for (const o of ['serviceaccount/coredns', 'clusterrole.rbac.authorization.k8s.io/system:coredns', 'configmap/coredns', 'deployment.apps/coredns', 'service/kube-dns']) {
    assert.match(out, new RegExp(`${o.replaceAll('.', '\\.')} (configured|unchanged|created) \\(server dry run\\)`), out);
  }
});

test("a ClusterFirst pod's /etc/resolv.conf is the kubelet's: cluster DNS, the namespace's search path, ndots:5", async () => {
  const hostSearch = /^\s*search\s+(.*)$/m.exec(readFileSync('/etc/resolv.conf', 'utf8'))?.[1]?.split(/\s+/).filter(Boolean) ?? [];
  const conf = await bed.exec(NS, 'client', 'main', ['cat', '/etc/resolv.conf']);
  const lines = conf.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(lines.filter((l) => l.startsWith('nameserver')), [`nameserver ${DNS_IP}`], conf);
  const search = [`${NS}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local', ...hostSearch];
  assert.deepEqual(lines.filter((l) => l.startsWith('search')), [`search ${[...new Set(search)].join(' ')}`], conf);
  assert.deepEqual(lines.filter((l) => l.startsWith('options')), ['options ndots:5'], conf);
});

// busybox (>= 1.28) nslookup applies the search path only to names without a dot (kubernetes/kubernetes#66924),
// so dotted short names such as kubernetes.default are resolved through libc (getaddrinfo: search list
// and ndots:5 from the pod's resolv.conf), as applications do: wget prints the address it connects to.
async function wgetResolve(pod: string, url: string): Promise<{ address: string; out: string }> {
  const { out } = await sh(pod, `timeout 10 wget -O /dev/null ${url}`);
  const m = /^Connecting to \S+ \(([\d.]+):\d+\)/m.exec(out);
  assert.ok(m, `wget ${url} did not resolve:\n${out}`);
  return { address: m[1]!, out };
}

test('spec.dnsConfig is merged into the ClusterFirst resolv.conf, and names still resolve', async () => {
  const conf = await bed.exec(NS, 'custom', 'main', ['cat', '/etc/resolv.conf']);
  const lines = conf.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  assert.deepEqual(lines.filter((l) => l.startsWith('nameserver')), [`nameserver ${DNS_IP}`], conf);
  assert.match(conf, new RegExp(`^search ${NS}\\.svc\\.cluster\\.local svc\\.cluster\\.local cluster\\.local (\\S+ )*extra\\.test$`, 'm'));
  const options = lines.filter((l) => l.startsWith('options')).flatMap((l) => l.split(/\s+/).slice(1)).sort();
  assert.deepEqual(options, ['edns0', 'ndots:2'], conf);
  const web = await bed.kubectlJson<Service>(['get', 'service', 'web', '-n', NS]);
  assert.deepEqual(await nslookup('custom', `web.${NS}.svc.cluster.local`), [web.spec.clusterIP]);
});

test('kubernetes.default and <svc>.<ns> resolve to the ClusterIPs through the search path (libc resolver)', async () => {
  const kubernetes = await bed.kubectlJson<Service>(['get', 'service', 'kubernetes', '-n', 'default']);
  const api = await wgetResolve('client', 'http://kubernetes.default:443/');
  assert.equal(api.address, kubernetes.spec.clusterIP);
  // The connection went through the proxy to the apiserver, which refuses plain HTTP on its TLS port.
  assert.match(api.out, /400 Bad Request/);
  const web = await bed.kubectlJson<Service>(['get', 'service', 'web', '-n', NS]);
  assert.equal((await wgetResolve('client', `http://web.${NS}/`)).address, web.spec.clusterIP);
});

test('nslookup <svc>.<ns>.svc.cluster.local and a short name answer from CoreDNS at 10.96.0.10', async () => {
  const kubernetes = await bed.kubectlJson<Service>(['get', 'service', 'kubernetes', '-n', 'default']);
  assert.deepEqual(await nslookup('client', 'kubernetes.default.svc.cluster.local'), [kubernetes.spec.clusterIP]);
  const web = await bed.kubectlJson<Service>(['get', 'service', 'web', '-n', NS]);
  assert.deepEqual(await nslookup('client', `web.${NS}.svc.cluster.local`), [web.spec.clusterIP]);
  // A name without a dot goes through the search path: found in <ns>.svc.cluster.local, NXDOMAIN in the
  // other cluster suffixes (busybox asks every suffix, so it exits 1 for those).
  const short = await lookup('client', 'web');
  assert.deepEqual(short.answers, new Map([[`web.${NS}.svc.cluster.local`, [web.spec.clusterIP]]]), short.out);
  assert.match(short.out, /can't find web\.svc\.cluster\.local: NXDOMAIN/);
});

test('wget http://<svc>.<ns>/ reaches a backend by name', async () => {
  const names = new Set((await readyPods('web', 2)).map((p) => p.metadata.name));
  const { out, rc } = await sh('client', `timeout 10 wget -q -O - http://web.${NS}/`);
  assert.equal(rc, 0, out);
  const body = out.trim();
  assert.ok(names.has(body), `answered by ${body}, backends ${[...names].join(' ')}`);
});

test('a headless Service resolves to the ready pod IPs', async () => {
  const ips = (await readyPods('web', 2)).map((p) => p.status!.podIP!).sort();
  assert.equal(ips.length, 2);
  assert.deepEqual(await nslookup('client', `web-headless.${NS}.svc.cluster.local`), ips);
});

test('a name that does not exist in the cluster is NXDOMAIN, not a timeout', async () => {
  const { out, rc } = await sh('client', `nslookup -type=a nosuch.${NS}.svc.cluster.local`);
  assert.notEqual(rc, 0, out);
  assert.match(out, /NXDOMAIN/);
});

/** A DNS query for name's A records in TCP framing (RFC 1035 4.2.2: two length bytes first). */
function tcpQuery(name: string, id: number): Buffer {
  const labels = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const q = Buffer.concat([Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  return Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
}

/** coredns_dns_requests_total summed by proto, from the CoreDNS pod's metrics port (the pod is on this host). */
async function corednsRequests(): Promise<Record<string, number>> {
  const pods = (await bed.kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', 'kube-system', '-l', 'k8s-app=kube-dns'])).items;
  const ip = pods.find(isReady)?.status?.podIP;
  assert.ok(ip, 'a ready CoreDNS pod');
  const text = await (await fetch(`http://${ip}:9153/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^coredns_dns_requests_total\{[^}]*proto="(\w+)"[^}]*\} (\S+)$/gm)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  return out;
}

test('DNS over TCP to 10.96.0.10:53 (kube-dns dns-tcp) answers through the proxy too', async () => {
  const name = `web.${NS}.svc.cluster.local`;
  const web = await bed.kubectlJson<Service>(['get', 'service', 'web', '-n', NS]);
  const before = await corednsRequests();
  const b64 = tcpQuery(name, 0x4d2).toString('base64');
  const { out } = await sh('client', `echo ${b64} | base64 -d | nc -w 3 ${DNS_IP} 53 | od -An -tx1 -v`);
  const bytes = out.split(/\s+/).filter((h) => /^[0-9a-f]{2}$/.test(h)).map((h) => parseInt(h, 16));
  assert.ok(bytes.length > 14, `no TCP DNS reply: ${out}`);
  assert.equal((bytes[2]! << 8) | bytes[3]!, 0x4d2, 'reply id');
  assert.equal(bytes[5]! & 0x0f, 0, 'rcode NOERROR');
  assert.equal((bytes[8]! << 8) | bytes[9]!, 1, 'one answer');
  assert.equal(bytes.slice(-4).join('.'), web.spec.clusterIP, 'the A record (last 4 bytes of the reply)');
  const after = await corednsRequests();
  assert.ok((after.tcp ?? 0) > (before.tcp ?? 0), `CoreDNS counted a TCP request: ${JSON.stringify({ before, after })}`);
  assert.ok((after.udp ?? 0) > 0, 'and the earlier UDP ones');
});

test('CoreDNS follows the API: a Service created now resolves, and a pod A record (pods insecure) answers', async () => {
  await bed.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'late', namespace: NS }, spec: { selector: { app: 'web' }, ports: [{ port: 81, targetPort: 8080 }] } }));
  const late = await bed.kubectlJson<Service>(['get', 'service', 'late', '-n', NS]);
  const got = await bed.waitFor(async () => {
    const r = await lookup('client', `late.${NS}.svc.cluster.local`);
    return r.rc === 0 ? r.answers.get(`late.${NS}.svc.cluster.local`) : undefined;
  }, { what: 'the new Service in DNS', timeoutMs: 20_000 });
  assert.deepEqual(got, [late.spec.clusterIP]);
  const ip = (await bed.pod(NS, 'client'))!.status!.podIP!;
  const podName = `${ip.replaceAll('.', '-')}.${NS}.pod.cluster.local`;
  assert.deepEqual(await nslookup('client', podName), [ip]);
});

test('a ClusterFirst pod on a node without cluster DNS falls back to the host resolv.conf', async () => {
  await bed.stopAgent();
  await bed.startAgent(baseArgs);
  await bed.apply(clientPod('nodns'));
  await bed.waitFor(async () => isReady((await bed.pod(NS, 'nodns'))!), { what: 'nodns pod ready', timeoutMs: 60_000 });
  const conf = await bed.exec(NS, 'nodns', 'main', ['cat', '/etc/resolv.conf']);
  assert.ok(!conf.includes(DNS_IP), conf);
  assert.ok(!conf.includes('svc.cluster.local'), conf);
  assert.ok(!conf.includes('ndots:5'), conf);
  const hostServers = [...readFileSync('/etc/resolv.conf', 'utf8').matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]!);
  for (const s of hostServers.filter((h) => !h.startsWith('127.'))) assert.ok(conf.includes(`nameserver ${s}`), conf);
});

// pkg/kubelet/network/dns GetPodDNS: "kubelet does not have ClusterDNS IP configured and cannot create Pod
// using "ClusterFirst" policy. Falling back to "Default" policy." on the pod (and the node), type Warning.
test('... and a MissingClusterDNS Warning event on the pod and on the node', async () => {
  const events = await bed.waitFor(async () => {
    const list = await bed.kubectlJson<{ items: CoreEvent[] }>(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=nodns']);
    return list.items.some((e) => e.reason === 'MissingClusterDNS') ? list.items : undefined;
  }, { what: 'a MissingClusterDNS event on pod nodns', timeoutMs: 15_000 });
  const ev = events.find((e) => e.reason === 'MissingClusterDNS')!;
  assert.equal(ev.type, 'Warning');
  assert.match(ev.message, /^pod: "nodns_.*kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy/);
  const nodeEvents = await bed.kubectlJson<{ items: CoreEvent[] }>(['get', 'events', '-A', '--field-selector', `involvedObject.kind=Node,involvedObject.name=${NODE},reason=MissingClusterDNS`]);
  assert.ok(nodeEvents.items.length > 0, 'a MissingClusterDNS event on the node');
});
