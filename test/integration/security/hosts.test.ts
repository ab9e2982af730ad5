// End to end: the kubelet-managed /etc/hosts of a pod on the pod network (its IP with hostname and the
// subdomain FQDN, then hostAliases), a container that mounts its own /etc/hosts left alone, and
// setHostnameAsFQDN making the kernel hostname the FQDN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../../kube/api.js';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = 'dl-e2e-hosts';
const NS = 'e2e-hosts';
const IMAGE = 'dockerlet/busybox:1.36';
let bed: Bed | undefined;
const b = () => bed as Bed;

const sleeper = (name: string, extra: Record<string, unknown> = {}) =>
  ({ name, image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'], ...extra });

async function running(name: string): Promise<Pod> {
  return b().waitFor(async () => {
    const p = await b().kubectlJson<Pod>(['get', 'pod', name, '-n', NS]);
    return p.status?.phase === 'Running' && p.status.podIP && (p.status.containerStatuses ?? []).every((s) => s.state?.running) ? p : undefined;
  }, { what: `pod ${name} running`, timeoutMs: 90_000 });
}

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
  await bed.kubectl(['create', 'configmap', 'own-hosts', '-n', NS, '--from-literal=hosts=10.9.9.9 mine\n']);
  const pod = (name: string, spec: Record<string, unknown>) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { terminationGracePeriodSeconds: 1, ...spec } });
  await bed.apply(pod('named', {
    hostname: 'web-0', subdomain: 'websvc',
    hostAliases: [{ ip: '123.45.67.89', hostnames: ['foo.local', 'bar.local'] }, { ip: '10.1.2.3', hostnames: ['baz'] }],
    volumes: [{ name: 'own', configMap: { name: 'own-hosts' } }],
    containers: [sleeper('managed'), sleeper('own', { volumeMounts: [{ name: 'own', mountPath: '/etc/hosts', subPath: 'hosts' }] })],
  }));
  await bed.apply(pod('fqdn', { hostname: 'db', subdomain: 'dbsvc', setHostnameAsFQDN: true, containers: [sleeper('c')] }));
}, { timeout: 180_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

test('/etc/hosts is kubelet-managed: pod IP with FQDN and hostname, then the hostAliases', { timeout: 120_000 }, async () => {
  const p = await running('named');
  const hosts = await b().exec(NS, 'named', 'managed', ['cat', '/etc/hosts']);
  assert.equal(hosts, '# Kubernetes-managed hosts file.\n'
    + '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\n'
    + 'fe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n'
    + `${p.status!.podIP}\tweb-0.websvc.${NS}.svc.cluster.local\tweb-0\n`
    + '\n# Entries added by HostAliases.\n123.45.67.89\tfoo.local\tbar.local\n10.1.2.3\tbaz\n');
  assert.equal((await b().exec(NS, 'named', 'managed', ['hostname'])).trim(), 'web-0');
});

test('a container that mounts /etc/hosts itself keeps its own file', { timeout: 60_000 }, async () => {
  await running('named');
  assert.equal(await b().exec(NS, 'named', 'own', ['cat', '/etc/hosts']), '10.9.9.9 mine\n');
});

test('setHostnameAsFQDN: the kernel hostname is the FQDN', { timeout: 120_000 }, async () => {
  await running('fqdn');
  assert.equal((await b().exec(NS, 'fqdn', 'c', ['hostname'])).trim(), `db.dbsvc.${NS}.svc.cluster.local`);
});
