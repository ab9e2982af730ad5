import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerCreateOptions, portBindings, sandboxCreateOptions } from '../../../runtime/docker/specs.js';
import type { ContainerCreateSpec, ContainerIdentity, SandboxSpec } from '../../../runtime/types.js';

const id: ContainerIdentity = {
  podUid: 'uid-1', podName: 'p', podNamespace: 'ns', containerName: 'c', kind: 'container', attempt: 0, restartCount: 0, specHash: 'h',
};
const sbId: ContainerIdentity = { ...id, containerName: 'POD', kind: 'sandbox' };

function sandboxSpec(over: Partial<SandboxSpec> = {}): SandboxSpec {
  return { identity: sbId, image: 'pause', hostname: 'p', hostNetwork: false, portBindings: [], ...over };
}
function containerSpec(over: Partial<ContainerCreateSpec> = {}): ContainerCreateSpec {
  return { identity: id, sandboxId: 'sb1', image: 'img', env: [], mounts: [], resources: {}, annotations: {}, ...over };
}

test('port bindings: only ports with a hostPort are published, protocol lowercased', () => {
  const r = portBindings([
    { containerPort: 80, hostPort: 8080, protocol: 'TCP' },
    { containerPort: 53, hostPort: 5353, hostIP: '127.0.0.1', protocol: 'UDP' },
    { containerPort: 9000, hostPort: 0, protocol: 'TCP' },
  ]);
  assert.deepEqual(r.bindings, {
    '80/tcp': [{ HostIp: '', HostPort: '8080' }],
    '53/udp': [{ HostIp: '127.0.0.1', HostPort: '5353' }],
  });
  assert.deepEqual(Object.keys(r.exposed).sort(), ['53/udp', '80/tcp', '9000/tcp']);
});

test('sandbox: shareable IPC, bridge network, hostname, dns, no restart, no init', () => {
  const o = sandboxCreateOptions(sandboxSpec({ dns: { servers: ['10.96.0.10'], searches: ['ns.svc.cluster.local'], options: ['ndots:5'] }, labels: { app: 'x' } }));
  assert.equal(o.name, 'k8s_POD_p_ns_uid-1_0');
  assert.equal(o.Hostname, 'p');
  assert.equal(o.HostConfig?.IpcMode, 'shareable');
  assert.equal(o.HostConfig?.NetworkMode, 'bridge');
  assert.deepEqual(o.HostConfig?.RestartPolicy, { Name: 'no' });
  assert.equal(o.HostConfig?.Init, false);
  assert.deepEqual(o.HostConfig?.Dns, ['10.96.0.10']);
  assert.deepEqual(o.HostConfig?.DnsSearch, ['ns.svc.cluster.local']);
  assert.deepEqual(o.HostConfig?.DnsOptions, ['ndots:5']);
  assert.equal(o.Labels?.app, 'x');
  assert.equal(o.Labels?.['io.kubernetes.docker.type'], 'podsandbox');
});

test('host-network sandbox uses the host network and UTS namespace, no Hostname', () => {
  const o = sandboxCreateOptions(sandboxSpec({ hostNetwork: true }));
  assert.equal(o.HostConfig?.NetworkMode, 'host');
  assert.equal(o.HostConfig?.UTSMode, 'host');
  assert.equal(o.Hostname, undefined);
});

test('pod labels cannot override identity labels', () => {
  const o = sandboxCreateOptions(sandboxSpec({ labels: { 'io.kubernetes.pod.uid': 'evil' } }));
  assert.equal(o.Labels?.['io.kubernetes.pod.uid'], 'uid-1');
});

test('container joins the sandbox namespaces; pid only when shared', () => {
  const o = containerCreateOptions(containerSpec());
  assert.equal(o.HostConfig?.NetworkMode, 'container:sb1');
  assert.equal(o.HostConfig?.IpcMode, 'container:sb1');
  assert.equal(o.HostConfig?.PidMode, undefined);
  assert.equal(o.Labels?.['io.kubernetes.sandbox.id'], 'sb1');
  assert.equal(o.Hostname, undefined);
  assert.equal(containerCreateOptions(containerSpec({ sharePid: true })).HostConfig?.PidMode, 'container:sb1');
});

test('command/args follow Kubernetes semantics', () => {
  const none = containerCreateOptions(containerSpec());
  assert.equal(none.Entrypoint, undefined);
  assert.equal(none.Cmd, undefined);
  const cmdOnly = containerCreateOptions(containerSpec({ command: ['/bin/app'] }));
  assert.deepEqual(cmdOnly.Entrypoint, ['/bin/app']);
  assert.equal(cmdOnly.Cmd, undefined);
  const argsOnly = containerCreateOptions(containerSpec({ args: ['--flag'] }));
  assert.equal(argsOnly.Entrypoint, undefined);
  assert.deepEqual(argsOnly.Cmd, ['--flag']);
  const both = containerCreateOptions(containerSpec({ command: ['sh', '-c'], args: ['echo hi'] }));
  assert.deepEqual([both.Entrypoint, both.Cmd], [['sh', '-c'], ['echo hi']]);
  // empty arrays mean "not set", as in the Kubernetes API
  const empty = containerCreateOptions(containerSpec({ command: [], args: [] }));
  assert.deepEqual([empty.Entrypoint, empty.Cmd], [undefined, undefined]);
});

test('container: env, binds, tmpfs, resources, security, log config', () => {
  const o = containerCreateOptions(containerSpec({
    env: [{ name: 'A', value: 'x=y' }],
    workingDir: '/w',
    mounts: [{ hostPath: '/h1', containerPath: '/c1', readOnly: true }, { hostPath: '/h2', containerPath: '/c2', readOnly: false }],
    tmpfs: [{ containerPath: '/t', sizeBytes: 1048576 }],
    resources: { cpuShares: 512, cpuQuota: 50000, cpuPeriod: 100000, memoryLimitBytes: 64 * 1024 * 1024, oomScoreAdj: 900 },
    tty: true, stdin: true, stdinOnce: true, privileged: true, user: '1000:1000', readOnlyRootfs: true,
    capAdd: ['NET_ADMIN'], capDrop: ['ALL'],
    annotations: { 'io.kubernetes.container.terminationMessagePath': '/tmp/term' },
    terminationMessageHostPath: '/var/lib/x/term',
  }));
  const h = o.HostConfig!;
  assert.deepEqual(o.Env, ['A=x=y']);
  assert.equal(o.WorkingDir, '/w');
  assert.deepEqual(h.Binds, ['/h1:/c1:ro', '/h2:/c2', '/var/lib/x/term:/tmp/term']);
  assert.deepEqual(h.Tmpfs, { '/t': 'rw,exec,size=1048576' });
  assert.deepEqual([h.CpuShares, h.CpuQuota, h.CpuPeriod, h.Memory, h.MemorySwap, h.OomScoreAdj], [512, 50000, 100000, 67108864, 67108864, 900]);
  assert.deepEqual([o.Tty, o.OpenStdin, o.StdinOnce], [true, true, true]);
  assert.deepEqual([h.Privileged, o.User, h.ReadonlyRootfs], [true, '1000:1000', true]);
  assert.deepEqual([h.CapAdd, h.CapDrop], [['NET_ADMIN'], ['ALL']]);
  assert.deepEqual(h.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } });
  assert.equal(o.Labels?.['annotation.io.kubernetes.container.terminationMessagePath'], '/tmp/term');
});

test('termination message defaults to /dev/termination-log', () => {
  const o = containerCreateOptions(containerSpec({ terminationMessageHostPath: '/h/t' }));
  assert.deepEqual(o.HostConfig?.Binds, ['/h/t:/dev/termination-log']);
});
