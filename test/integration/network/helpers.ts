// Shared by the multi-node network tests (CI subset here, node removal in test/slow/network/): the
// echo workload (busybox httpd on 8080/TCP answering its pod name, udp-echo on 8081/UDP), kubectl
// helpers, and the egress guard's REJECT counters.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureUdpEchoImage } from '../../cluster/images.js';
import { startMultiNodeCluster, type MultiNodeCluster } from '../../cluster/multinode.js';
import { pollValue } from '../../cluster/net.js';

const execFileP = promisify(execFile);
export const KUBECTL = process.env.KUBECTL ?? 'kubectl';

export interface PodInfo {
  name: string;
  node: string;
  ip: string;
  ips: string[];
}

export function kubectl(bed: MultiNodeCluster, args: string[], timeoutMs = 60_000): Promise<string> {
  return execFileP(KUBECTL, ['--kubeconfig', bed.cp.adminKubeconfigPath, '--request-timeout=30s', ...args], { timeout: timeoutMs, maxBuffer: 32 << 20 })
    .then((r) => r.stdout, (err: { stderr?: string; message?: string }) => {
      throw new Error(`kubectl ${args.join(' ')}: ${(err.stderr ?? err.message ?? '').trim()}`);
    });
}

export async function kubectlApply(bed: MultiNodeCluster, manifest: unknown): Promise<void> {
  const p = execFile(KUBECTL, ['--kubeconfig', bed.cp.adminKubeconfigPath, 'apply', '-f', '-'], { timeout: 60_000 });
  const done = new Promise<void>((resolve, reject) => {
    let err = '';
    p.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kubectl apply: ${err.trim()}`))));
  });
  p.stdin?.end(JSON.stringify(manifest));
  await done;
}

/** The echo Deployment: `replicas` pods spread evenly over the nodes (topology spread, maxSkew 1). */
export function echoDeployment(ns: string, image: string, replicas: number): unknown {
  const labels = { app: 'echo' };
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'echo', namespace: ns },
    spec: {
      replicas, selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 1,
          topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: labels } }],
          containers: [
            { name: 'tcp', image, imagePullPolicy: 'Never', command: ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'], ports: [{ containerPort: 8080 }] },
            { name: 'udp', image, imagePullPolicy: 'Never', command: ['udp-echo', 'serve', '8081'], ports: [{ containerPort: 8081, protocol: 'UDP' }] },
          ],
        },
      },
    },
  };
}

export function echoService(ns: string): unknown {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: ns },
    spec: {
      type: 'NodePort', selector: { app: 'echo' },
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }, { name: 'udp', port: 81, targetPort: 8081, protocol: 'UDP' }],
    },
  };
}

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { phase?: string; podIP?: string; podIPs?: { ip: string }[]; conditions?: { type: string; status: string }[] };
}

/** Waits for exactly `count` Ready pods of app=echo (none terminating) and returns them. */
export async function readyEchoPods(bed: MultiNodeCluster, ns: string, count: number, timeoutMs: number, nodes?: string[]): Promise<PodInfo[]> {
  return pollValue(`${count} ready echo pods`, timeoutMs, async () => {
    const items = (JSON.parse(await kubectl(bed, ['-n', ns, 'get', 'pods', '-l', 'app=echo', '-o', 'json'])) as { items: PodJson[] }).items;
    const live = items.filter((p) => !p.metadata.deletionTimestamp);
    const ready = live.filter((p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && p.status.podIP);
    if (live.length !== count || ready.length !== count) return undefined;
    if (nodes && ready.some((p) => !nodes.includes(p.spec.nodeName ?? ''))) return undefined;
    return ready.map((p) => ({ name: p.metadata.name, node: p.spec.nodeName ?? '', ip: p.status.podIP ?? '', ips: (p.status.podIPs ?? []).map((x) => x.ip) }));
  }, 1_000);
}

/** Runs a shell script in a pod's container through kubectl exec (apiserver → the node's kubelet API). */
export function podSh(bed: MultiNodeCluster, ns: string, pod: string, container: string, script: string, timeoutMs = 120_000): Promise<string> {
  return kubectl(bed, ['-n', ns, 'exec', pod, '-c', container, '--', 'sh', '-c', script], timeoutMs);
}

/** Packet and byte counters of the egress guard's REJECT rules (OUTPUT and DOCKER-USER, comment dockerlet-egress-guard). */
export async function egressGuardCounters(): Promise<string> {
  const rows: string[] = [];
  for (const chain of ['OUTPUT', 'DOCKER-USER']) {
    const out = await execFileP('iptables', ['-w', '5', '-L', chain, '-v', '-x', '-n'], { timeout: 15_000 }).then((r) => r.stdout, () => '');
    for (const l of out.split('\n')) if (l.includes('REJECT') && l.includes('10.96.0.0/12')) rows.push(`${chain}: ${l.trim().split(/\s+/).slice(0, 2).join(' ')}`);
  }
  return rows.join('; ');
}

/** Runs a host binary inside a node's network namespace; resolves with stdout, or the error text. */
export async function inNode(bed: MultiNodeCluster, node: string, cmd: string[], timeoutMs = 30_000): Promise<string> {
  const n = bed.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node}`);
  return (await n.exec(cmd, timeoutMs)).stdout;
}

/** Asks addr up to `tries` times and collects the distinct answers (pod names) until `want` are seen. */
export async function collectAnswers(ask: () => Promise<string>, want: ReadonlySet<string>, tries: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < tries && [...want].some((w) => !seen.has(w)); i++) {
    try {
      const a = (await ask()).trim().split(/\s+/);
      const name = a[0] === 'udp' ? a[1] : a[0];
      if (name) seen.add(name);
    } catch {
      /* a miss; the set tells */
    }
  }
  return seen;
}

export interface EchoBed {
  bed: MultiNodeCluster;
  /** The egress guard's counters before the bed started. */
  guardBefore: string;
  /** The udp-echo binary's path inside the image (its `ask` mode is the UDP client). */
  udpEcho: string;
  pods: PodInfo[];
  clusterIP: string;
  nodePort: number;
}

/** Three nodes, namespace ns, six echo pods spread over them and the echo Service (ClusterIP + NodePort). */
export async function startEchoBed(ns: string): Promise<EchoBed> {
  const guardBefore = await egressGuardCounters();
  const echo = await ensureUdpEchoImage();
  const bed = await startMultiNodeCluster({ nodes: 3, images: [echo.image] });
  try {
    await kubectl(bed, ['create', 'namespace', ns]);
    await kubectlApply(bed, echoDeployment(ns, echo.image, 6));
    await kubectlApply(bed, echoService(ns));
    const pods = await readyEchoPods(bed, ns, 6, 240_000);
    const svc = JSON.parse(await kubectl(bed, ['-n', ns, 'get', 'service', 'echo', '-o', 'json'])) as { spec: { clusterIP: string; ports: { name: string; nodePort: number }[] } };
    const nodePort = svc.spec.ports.find((p) => p.name === 'http')?.nodePort ?? 0;
    return { bed, guardBefore, udpEcho: echo.binary, pods, clusterIP: svc.spec.clusterIP, nodePort };
  } catch (err) {
    await bed.stop();
    throw err;
  }
}
