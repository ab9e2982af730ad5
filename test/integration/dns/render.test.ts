// The plan step of test/cluster/dns.ts on the real examples/coredns/coredns.yaml: which objects go to
// the cluster, with the clusterIP, domain, image and replicas asked for, and a Corefile without
// `forward`/`loop` unless an upstream is given (kubeadm's Corefile otherwise).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { COREDNS_MANIFEST, parseNslookup, renderClusterDns, withoutForward } from '../../cluster/dns.js';

const manifest = readFileSync(COREDNS_MANIFEST, 'utf8');

interface Any {
  kind: string;
  metadata: { name: string; namespace?: string };
  data?: { Corefile: string };
  spec?: { clusterIP?: string; replicas?: number; ports?: { port: number; protocol: string }[]; template?: { spec: { containers: { image: string }[] } } };
  rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
}

const byKind = (objs: unknown[], kind: string) => (objs as Any[]).find((o) => o.kind === kind)!;
const directives = (corefile: string) => corefile.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((d) => d && d !== '}');

test('the manifest holds what kubeadm deploys, in kube-system', () => {
  const objs = renderClusterDns(manifest) as Any[];
  assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`), [
    'ServiceAccount/coredns', 'ClusterRole/system:coredns', 'ClusterRoleBinding/system:coredns', 'ConfigMap/coredns', 'Deployment/coredns', 'Service/kube-dns',
  ]);
  for (const o of objs) if (!o.kind.startsWith('Cluster')) assert.equal(o.metadata.namespace, 'kube-system', o.kind);
  const rules = byKind(objs, 'ClusterRole').rules!;
  assert.deepEqual(rules.map((r) => [r.apiGroups, [...r.resources].sort(), r.verbs]), [
    [[''], ['endpoints', 'namespaces', 'pods', 'services'], ['list', 'watch']],
    [['discovery.k8s.io'], ['endpointslices'], ['list', 'watch']],
  ]);
  const svc = byKind(objs, 'Service');
  assert.equal(svc.spec!.clusterIP, '10.96.0.10');
  assert.deepEqual(svc.spec!.ports!.map((p) => `${p.port}/${p.protocol}`), ['53/UDP', '53/TCP', '9153/TCP']);
});

test('by default the Corefile has no forward and no loop: nothing is asked outside the cluster', () => {
  const corefile = byKind(renderClusterDns(manifest), 'ConfigMap').data!.Corefile;
  assert.deepEqual(directives(corefile), ['.:53', 'errors', 'health', 'lameduck', 'ready', 'kubernetes', 'pods', 'fallthrough', 'ttl',
    'prometheus', 'cache', 'disable', 'disable', 'reload', 'loadbalance']);
  // The file itself is kubeadm's, with the forward block and loop.
  const original = (renderClusterDns(manifest, { forward: '/etc/resolv.conf' }) as Any[]).find((o) => o.kind === 'ConfigMap')!.data!.Corefile;
  assert.match(original, /forward \. \/etc\/resolv\.conf \{\n\s+max_concurrent 1000\n\s+\}/);
  assert.ok(directives(original).includes('loop'));
});

test('options: cluster IP, domain, image, replicas, upstream', () => {
  const objs = renderClusterDns(manifest, { clusterIP: '10.96.0.53', domain: 'k8s.test', image: 'example/coredns:x', replicas: 1, forward: '192.0.2.53' });
  assert.equal(byKind(objs, 'Service').spec!.clusterIP, '10.96.0.53');
  const dep = byKind(objs, 'Deployment');
  assert.equal(dep.spec!.replicas, 1);
  assert.equal(dep.spec!.template!.spec.containers[0]!.image, 'example/coredns:x');
  const corefile = byKind(objs, 'ConfigMap').data!.Corefile;
  assert.match(corefile, /kubernetes k8s\.test in-addr\.arpa ip6\.arpa \{/);
  assert.match(corefile, /disable success k8s\.test/);
  assert.ok(!corefile.includes('cluster.local'));
  assert.match(corefile, /forward \. 192\.0\.2\.53 \{/);
  // The default image is the one scripts/build-coredns.sh tags.
  const script = readFileSync(new URL('../../../scripts/build-coredns.sh', import.meta.url), 'utf8');
  const version = /COREDNS_VERSION:-(v[\d.]+)/.exec(script)![1];
  assert.equal(byKind(renderClusterDns(manifest), 'Deployment').spec!.template!.spec.containers[0]!.image, `dockerlet/coredns:${version}`);
});

test('withoutForward drops a one-line or block forward and loop, nothing else', () => {
  assert.equal(withoutForward('.:53 {\n  errors\n  forward . 1.2.3.4\n  loop\n  cache 30\n}'), '.:53 {\n  errors\n  cache 30\n}');
  assert.equal(withoutForward('.:53 {\n  forward . /etc/resolv.conf {\n    max_concurrent 1000\n    policy { x }\n  }\n  reload\n}'), '.:53 {\n  reload\n}');
});

test('parseNslookup takes the answer addresses, not the server line', () => {
  const out = 'Server:\t\t10.100.2.2\nAddress:\t10.100.2.2:53\n\nName:\tweb.ns.svc.cluster.local\nAddress: 10.100.0.7\nName:\tweb.ns.svc.cluster.local\nAddress: 10.100.1.4\n\n';
  assert.deepEqual(parseNslookup(out, 'web.ns.svc.cluster.local'), ['10.100.0.7', '10.100.1.4']);
  assert.deepEqual(parseNslookup(out, 'other.ns.svc.cluster.local'), []);
  assert.deepEqual(parseNslookup("** server can't find x.cluster.local: NXDOMAIN\n", 'x.cluster.local'), []);
});
