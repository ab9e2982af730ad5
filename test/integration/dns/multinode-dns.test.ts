// Cluster DNS on the three-node bed (test/cluster/multinode.ts: a netns, dockerd and dockerlet per node,
// per-node pod networks joined by host-gw routes): CoreDNS (2 replicas) from examples/coredns/coredns.yaml
// behind kube-dns 10.96.0.10; from a client pod on every node, Service names resolve (busybox nslookup and
// libc through the search path), wget by name reaches a backend on any node, a headless Service returns
// every pod IP, and /etc/resolv.conf is the kubelet's. No forward in the Corefile, and the egress guard's
// counters do not move.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { deployClusterDns, ensureCorednsImage, nslookupVia, parseNslookup } from '../../cluster/dns.js';
import { startMultiNodeCluster, type MultiNodeCluster } from '../../cluster/multinode.js';
import { pollValue } from '../../cluster/net.js';
import { egressGuardCounters, kubectl, kubectlApply, podSh } from '../network/helpers.js';

const NS = 'dns-e2e';
const DNS_IP = '10.96.0.10';
const BUSYBOX = 'dockerlet/busybox:1.36';
let bed: MultiNodeCluster | undefined;
let guardBefore = '';
let nodes: string[] = [];

const b = (): MultiNodeCluster => {
  assert.ok(bed, 'bed is up');
  return bed;
};

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { podIP?: string; conditions?: { type: string; status: string }[] };
}

async function readyPods(selector: string, count: number): Promise<PodJson[]> {
  return pollValue(`${count} ready ${selector} pods`, 180_000, async () => {
    const items = (JSON.parse(await kubectl(b(), ['-n', NS, 'get', 'pods', '-l', selector, '-o', 'json'])) as { items: PodJson[] }).items;
    const live = items.filter((p) => !p.metadata.deletionTimestamp);
    const ready = live.filter((p) => p.status.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return live.length === count && ready.length === count ? ready : undefined;
  }, 1_000).catch(async (err: unknown) => {
    const pods = await kubectl(b(), ['get', 'pods', '-A', '-o', 'wide']).catch(() => '');
    const events = await kubectl(b(), ['-n', NS, 'get', 'events', '--field-selector', 'type=Warning']).catch(() => '');
    const taints = await kubectl(b(), ['get', 'nodes', '-o', 'custom-columns=NAME:.metadata.name,TAINTS:.spec.taints[*].key,READY:.status.conditions[-1:].status']).catch(() => '');
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${pods}\n${events}\n${taints}`);
  });
}

before(async () => {
  guardBefore = await egressGuardCounters();
  const image = await ensureCorednsImage();
  bed = await startMultiNodeCluster({ nodes: 3, images: [image] });
  nodes = bed.nodes.map((n) => n.name);
  // The test process cannot reach pod IPs on the nodes' networks; ask CoreDNS from the first node's namespace.
  const first = bed.nodes[0]!;
  const query = nslookupVia((cmd) => first.exec(cmd));
  await deployClusterDns({ kubeconfig: bed.cp.adminKubeconfigPath, image, replicas: 2, query, timeoutMs: 180_000 });
  await kubectl(bed, ['create', 'namespace', NS]);
  const labels = { app: 'web' };
  await kubectlApply(bed, {
    apiVersion: 'v1', kind: 'List', items: [
      // One web pod pinned to each node (every bed node carries this host's kubernetes.io/hostname label, so
      // hostname topology spread / anti-affinity cannot tell them apart).
      ...nodes.map((node) => ({
        apiVersion: 'v1', kind: 'Pod', metadata: { name: `web-${node}`, namespace: NS, labels },
        spec: {
          nodeName: node, terminationGracePeriodSeconds: 1,
          containers: [{
            name: 'web', image: BUSYBOX, imagePullPolicy: 'Never',
            command: ['sh', '-c', 'mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www'],
            ports: [{ containerPort: 8080 }], readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
          }],
        },
      })),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-headless', namespace: NS }, spec: { clusterIP: 'None', selector: labels, ports: [{ port: 8080 }] } },
      ...nodes.map((node) => ({
        apiVersion: 'v1', kind: 'Pod', metadata: { name: `client-${node}`, namespace: NS, labels: { app: 'client' } },
        spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'main', image: BUSYBOX, imagePullPolicy: 'Never', command: ['sleep', '3600'] }] },
      })),
    ],
  });
  await readyPods('app=web', 3);
  await readyPods('app=client', nodes.length);
}, { timeout: 600_000 });

after(async () => {
  await bed?.stop();
});

// On the per-node pod network (a user-defined Docker bridge) Docker writes its embedded resolver
// (nameserver 127.0.0.11, forwarding to 10.96.0.10); the sandbox's file is rewritten as dockershim did.
test("every node writes the kubelet's resolv.conf for a ClusterFirst pod", async () => {
  for (const node of nodes) {
    const conf = await podSh(b(), NS, `client-${node}`, 'main', 'cat /etc/resolv.conf');
    const lines = conf.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(lines.filter((l) => l.startsWith('nameserver')), [`nameserver ${DNS_IP}`], `${node}:\n${conf}`);
    assert.match(conf, new RegExp(`^search ${NS}\\.svc\\.cluster\\.local svc\\.cluster\\.local cluster\\.local\\b`, 'm'), `${node}:\n${conf}`);
    assert.match(conf, /^options ndots:5$/m, `${node}:\n${conf}`);
  }
});

test('from a pod on every node: Service names resolve, wget by name answers, the headless Service lists every pod', async () => {
  const web = JSON.parse(await kubectl(b(), ['-n', NS, 'get', 'service', 'web', '-o', 'json'])) as { spec: { clusterIP: string } };
  const backends = await readyPods('app=web', 3);
  assert.equal(new Set(backends.map((p) => p.spec.nodeName)).size, 3, 'one web pod per node');
  const podIPs = backends.map((p) => p.status.podIP!).sort();
  const names = new Set(backends.map((p) => p.metadata.name));
  for (const node of nodes) {
    const pod = `client-${node}`;
    const fqdn = `web.${NS}.svc.cluster.local`;
    const out = await podSh(b(), NS, pod, 'main', `nslookup -type=a ${fqdn} 2>&1; true`);
    assert.deepEqual(parseNslookup(out, fqdn), [web.spec.clusterIP], `${node}:\n${out}`);
    const headless = `web-headless.${NS}.svc.cluster.local`;
    const hout = await podSh(b(), NS, pod, 'main', `nslookup -type=a ${headless} 2>&1; true`);
    assert.deepEqual(parseNslookup(hout, headless), podIPs, `${node}:\n${hout}`);
    // libc's resolver: search path and ndots:5 (web.<ns> → web.<ns>.svc.cluster.local), then the ClusterIP.
    const body = (await podSh(b(), NS, pod, 'main', `timeout 10 wget -q -O - http://web.${NS}/ 2>&1; true`)).trim();
    assert.ok(names.has(body), `${node}: wget http://web.${NS}/ answered ${JSON.stringify(body)}; backends ${[...names].join(' ')}`);
  }
});

test('no packet for a pod or Service address left the machine (egress guard counters unchanged)', async () => {
  assert.equal(await egressGuardCounters(), guardBefore);
});
