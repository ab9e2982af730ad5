import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../../kube/api.js';
import { buildContainerCreateSpec, buildSandboxSpec, portsAnnotation } from '../../../agent/containers/container.js';
import { parseResolvConf, podDns } from '../../../agent/containers/dns.js';
import { containerSpecHash } from '../../../agent/containers/hash.js';

function mkPod(extra: Partial<Pod['spec']> = {}, meta: Partial<Pod['metadata']> = {}): Pod {
  return {
    metadata: { name: 'web-0', namespace: 'shop', uid: 'uid-1', labels: { app: 'web' }, ...meta },
    spec: {
      containers: [{
        name: 'app',
        image: 'busybox',
        command: ['sh', '-c', 'echo $(GREETING) $$(HOME) $(MISSING)'],
        args: ['$(GREETING)'],
        ports: [{ name: 'http', containerPort: 80, hostPort: 8080 }, { containerPort: 53, protocol: 'UDP' }],
        resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
        securityContext: { runAsUser: 1000, capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] }, readOnlyRootFilesystem: true },
        tty: true,
        stdin: true,
        workingDir: '/srv',
      }],
      securityContext: { runAsUser: 1, runAsGroup: 2000 },
      terminationGracePeriodSeconds: 30,
      ...extra,
    },
  };
}

test('buildContainerCreateSpec: identity, annotations, resources, security, expansion', () => {
  const pod = mkPod({ shareProcessNamespace: true });
  const c = pod.spec.containers[0]!;
  const spec = buildContainerCreateSpec({
    pod, container: c, kind: 'container', sandboxId: 'sb1', attempt: 2, restartCount: 3,
    env: [{ name: 'GREETING', value: 'hello' }], mounts: [{ hostPath: '/h', containerPath: '/c', readOnly: true }],
    memoryCapacityBytes: 1024 * 1024 * 1024, terminationMessageHostPath: '/var/lib/x/termination-log', image: 'busybox:latest',
  });
  assert.deepEqual(spec.identity, {
    podUid: 'uid-1', podName: 'web-0', podNamespace: 'shop', containerName: 'app', kind: 'container', attempt: 2, restartCount: 3,
    specHash: containerSpecHash(c),
  });
  assert.equal(spec.sandboxId, 'sb1');
  assert.equal(spec.image, 'busybox:latest');
  assert.deepEqual(spec.command, ['sh', '-c', 'echo hello $(HOME) $(MISSING)']);
  assert.deepEqual(spec.args, ['hello']);
  assert.equal(spec.workingDir, '/srv');
  assert.deepEqual(spec.annotations, {
    'io.kubernetes.container.hash': containerSpecHash(c),
    'io.kubernetes.container.restartCount': '3',
    'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
    'io.kubernetes.container.terminationMessagePolicy': 'File',
    'io.kubernetes.container.type': 'container',
    'io.kubernetes.container.ports': '[{"name":"http","hostPort":8080,"containerPort":80,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}]',
    'io.kubernetes.pod.terminationGracePeriod': '30',
    'io.dockerlet.container.resources': '{"limits":{"cpu":"500m","memory":"128Mi"},"requests":{"cpu":"100m","memory":"64Mi"}}',
  });
  // Burstable: 1000 - 1000*64Mi/1Gi = 938
  assert.deepEqual(spec.resources, { cpuShares: 102, cpuPeriod: 100000, cpuQuota: 50000, memoryLimitBytes: 134217728, oomScoreAdj: 938 });
  assert.equal(spec.user, '1000:2000'); // container uid, pod gid
  assert.deepEqual(spec.capAdd, ['NET_ADMIN']);
  assert.deepEqual(spec.capDrop, ['ALL']);
  assert.equal(spec.readOnlyRootfs, true);
  assert.equal(spec.privileged, undefined);
  assert.equal(spec.tty, true);
  assert.equal(spec.stdin, true);
  assert.equal(spec.sharePid, true);
  assert.equal(spec.terminationMessageHostPath, '/var/lib/x/termination-log');
  assert.deepEqual(spec.mounts, [{ hostPath: '/h', containerPath: '/c', readOnly: true }]);
  assert.deepEqual(spec.env, [{ name: 'GREETING', value: 'hello' }]);
});

test('init containers, custom termination settings, privileged, pod-level user', () => {
  const pod = mkPod();
  const init = { name: 'setup', image: 'x', terminationMessagePath: '/tmp/msg', terminationMessagePolicy: 'FallbackToLogsOnError' as const, securityContext: { privileged: true } };
  pod.spec.initContainers = [init];
  const spec = buildContainerCreateSpec({
    pod, container: init, kind: 'init', sandboxId: 's', attempt: 0, restartCount: 0, env: [], mounts: [], memoryCapacityBytes: 1 << 30, image: 'x',
  });
  assert.equal(spec.annotations['io.kubernetes.container.type'], 'init');
  assert.equal(spec.annotations['io.kubernetes.container.terminationMessagePath'], '/tmp/msg');
  assert.equal(spec.annotations['io.kubernetes.container.terminationMessagePolicy'], 'FallbackToLogsOnError');
  assert.equal(spec.annotations['io.kubernetes.container.ports'], undefined);
  assert.equal(spec.privileged, true);
  assert.equal(spec.user, '1:2000');
  assert.equal(spec.command, undefined);
  assert.equal(spec.sharePid, undefined);
  assert.deepEqual(spec.resources, { cpuShares: 2, oomScoreAdj: 999 }); // pod is Burstable; no memory request
});

test('portsAnnotation matches Go json field order and omitempty', () => {
  assert.equal(portsAnnotation([{ containerPort: 1, hostIP: '1.2.3.4', hostPort: 2, protocol: 'SCTP', name: 'n' }]),
    '[{"name":"n","hostPort":2,"containerPort":1,"protocol":"SCTP","hostIP":"1.2.3.4"}]');
});

test('buildSandboxSpec: identity, hostname, host ports, labels', () => {
  const pod = mkPod();
  const sb = buildSandboxSpec(pod, 'registry.k8s.io/pause:3.10', { attempt: 1 });
  assert.equal(sb.identity.containerName, 'POD');
  assert.equal(sb.identity.kind, 'sandbox');
  assert.equal(sb.identity.attempt, 1);
  assert.match(sb.identity.specHash, /^[0-9a-f]{16}$/);
  assert.equal(sb.image, 'registry.k8s.io/pause:3.10');
  assert.equal(sb.hostname, 'web-0');
  assert.equal(sb.hostNetwork, false);
  assert.deepEqual(sb.portBindings, [{ containerPort: 80, hostPort: 8080, protocol: 'TCP' }]);
  assert.deepEqual(sb.labels, { app: 'web' });
  assert.equal(sb.dns, undefined, 'no cluster DNS and no host config: Docker default');

  assert.equal(buildSandboxSpec(mkPod({ hostname: 'custom' }), 'p').hostname, 'custom');
  const long = `${'a'.repeat(62)}-b${'c'.repeat(10)}`;
  assert.equal(buildSandboxSpec(mkPod({}, { name: long }), 'p').hostname, 'a'.repeat(62));
  const hostNet = buildSandboxSpec(mkPod({ hostNetwork: true }), 'p');
  assert.equal(hostNet.hostNetwork, true);
  assert.deepEqual(hostNet.portBindings, []);
  assert.notEqual(hostNet.identity.specHash, sb.identity.specHash);
});

test('pod DNS per dnsPolicy', () => {
  const host = parseResolvConf('# comment\nnameserver 192.168.1.1\nnameserver 8.8.8.8\nsearch corp.example lan\noptions edns0 ndots:1\n');
  assert.deepEqual(host, { servers: ['192.168.1.1', '8.8.8.8'], searches: ['corp.example', 'lan'], options: ['edns0', 'ndots:1'] });
  const opts = { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', hostDNS: host };

  assert.deepEqual(podDns(mkPod(), opts), {
    servers: ['10.96.0.10'],
    searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lan'],
    options: ['ndots:5'],
  });
  assert.deepEqual(podDns(mkPod({ dnsPolicy: 'Default' }), opts), host);
  assert.deepEqual(podDns(mkPod({ hostNetwork: true }), opts), host, 'ClusterFirst on the host network acts as Default');
  assert.equal(podDns(mkPod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), opts)?.servers[0], '10.96.0.10');
  assert.deepEqual(podDns(mkPod(), { hostDNS: host }), host, 'ClusterFirst without cluster DNS falls back to Default');

  const withConfig = mkPod({ dnsPolicy: 'None' });
  (withConfig.spec as { dnsConfig?: unknown }).dnsConfig = {
    nameservers: ['1.1.1.1'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
  };
  assert.deepEqual(podDns(withConfig, opts), { servers: ['1.1.1.1'], searches: ['a.example'], options: ['ndots:2', 'edns0'] });
  const merged = mkPod();
  (merged.spec as { dnsConfig?: unknown }).dnsConfig = { nameservers: ['10.96.0.10', '1.1.1.1'], options: [{ name: 'ndots', value: '3' }] };
  const d = podDns(merged, opts)!;
  assert.deepEqual(d.servers, ['10.96.0.10', '1.1.1.1']);
  assert.deepEqual(d.options, ['ndots:3']);
});
