// securityContext, sysctls, /etc/hosts and pod cgroups: the pure mapping from a pod to the runtime spec
// and on to Docker create options (what the kubelet + dockershim would hand Docker).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../../../kube/api.js';
import { isCode, ErrorCodes } from '../../../lib/errors.js';
import { buildContainerCreateSpec, buildSandboxSpec } from '../../../agent/containers/container.js';
import { podCgroupParent, podCgroupResources } from '../../../agent/containers/cgroups.js';
import { etcHostsFile, managedHostsContent, sandboxHostname } from '../../../agent/containers/hosts.js';
import { appArmorAdmit, containerSecurityFields, nonRootViolation, seccompProfile } from '../../../agent/containers/security.js';
import { invalidUnsafeSysctlPatterns, normalizeSysctlName, safeSysctls, sandboxSysctls, sysctlsAdmit } from '../../../agent/containers/sysctls.js';
import { containerCreateOptions, sandboxCreateOptions, systemdSlice } from '../../../runtime/docker/specs.js';
import { privilegedCapabilities } from '../../../runtime/docker/runtime.js';

function mkPod(spec: Record<string, unknown> = {}, containers: Partial<Container>[] = [{}]): Pod {
  return {
    metadata: { name: 'web', namespace: 'ns1', uid: 'u-1' },
    spec: { containers: containers.map((c, i) => ({ name: `c${i}`, image: 'busybox', ...c })), ...spec },
  } as Pod;
}

function spec(pod: Pod, extra: Record<string, unknown> = {}) {
  return buildContainerCreateSpec({
    pod, container: pod.spec.containers[0]!, kind: 'container', sandboxId: 'sb', attempt: 0, restartCount: 0,
    env: [], mounts: [], memoryCapacityBytes: 8 << 30, image: 'busybox',
    terminationMessageHostPath: '/var/lib/dockerlet/pods/u-1/containers/c0/0/termination-log', ...extra,
  });
}

test('sysctl names with slashes are normalised as upstream NormalizeName', () => {
  assert.equal(normalizeSysctlName('kernel/shm_rmid_forced'), 'kernel.shm_rmid_forced');
  assert.equal(normalizeSysctlName('net/ipv4/conf/eno2.100/rp_filter'), 'net.ipv4.conf.eno2/100.rp_filter');
  assert.equal(normalizeSysctlName('net.ipv4.conf.eno2/100.rp_filter'), 'net.ipv4.conf.eno2/100.rp_filter');
  assert.deepEqual(sandboxSysctls(mkPod({ securityContext: { sysctls: [{ name: 'kernel/shm_rmid_forced', value: '1' }] } })), { 'kernel.shm_rmid_forced': '1' });
});

test('sysctl admission: safe set allowed, unsafe refused with SysctlForbidden unless allowed, host namespaces', () => {
  const withSysctls = (sysctls: { name: string; value: string }[], extra: Record<string, unknown> = {}) => mkPod({ securityContext: { sysctls }, ...extra });
  assert.equal(sysctlsAdmit(withSysctls([{ name: 'kernel.shm_rmid_forced', value: '1' }, { name: 'net.ipv4.ip_local_port_range', value: '1024 2000' }]), []), undefined);
  assert.equal(sysctlsAdmit(mkPod(), []), undefined);
  assert.deepEqual(sysctlsAdmit(withSysctls([{ name: 'kernel.msgmax', value: '10000' }]), []),
    { reason: 'SysctlForbidden', message: 'forbidden sysctl: "kernel.msgmax" not allowlisted' });
  assert.equal(sysctlsAdmit(withSysctls([{ name: 'kernel.msgmax', value: '1' }]), ['kernel.msg*']), undefined);
  assert.equal(sysctlsAdmit(withSysctls([{ name: 'kernel/msgmax', value: '1' }]), ['kernel.msgmax']), undefined);
  assert.deepEqual(sysctlsAdmit(withSysctls([{ name: 'net.ipv4.tcp_syncookies', value: '1' }], { hostNetwork: true }), []),
    { reason: 'SysctlForbidden', message: 'forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host Net enabled' });
  assert.match(sysctlsAdmit(withSysctls([{ name: 'kernel.shm_rmid_forced', value: '1' }], { hostIPC: true }), [])!.message, /host IPC/);
  // Kernel gating: tcp_rmem is namespaced from 4.15.
  assert.ok(!safeSysctls('4.14.1').includes('net.ipv4.tcp_rmem'));
  assert.ok(safeSysctls('6.1.0-13-amd64').includes('net.ipv4.tcp_rmem'));
  assert.deepEqual(invalidUnsafeSysctlPatterns(['kernel.msg*', 'net.core.somaxconn', 'vm.swappiness', 'kernel.sh*m']), ['vm.swappiness', 'kernel.sh*m']);
});

test('managed /etc/hosts: header, localhost lines, pod IP with FQDN, hostAliases', () => {
  const pod = mkPod({ hostname: 'h1', subdomain: 'sub', hostAliases: [{ ip: '1.2.3.4', hostnames: ['a', 'b'] }] });
  const f = etcHostsFile({ pod, container: pod.spec.containers[0]!, podDir: '/p', podIPs: ['10.0.0.5'], clusterDomain: 'cluster.local' });
  assert.deepEqual(f, {
    hostPath: '/p/etc-hosts', containerPath: '/etc/hosts', suffix: '',
    prefix: '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n'
      + 'fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.0.0.5\th1.sub.ns1.svc.cluster.local\th1\n'
      + '\n# Entries added by HostAliases.\n1.2.3.4\ta\tb\n',
  });
  assert.ok(managedHostsContent(['10.0.0.5'], 'web', '').endsWith('fe00::2\tip6-allrouters\n10.0.0.5\tweb\n'));
  // Not managed: no pod IP yet, or the container mounts /etc/hosts itself.
  assert.equal(etcHostsFile({ pod, container: pod.spec.containers[0]!, podDir: '/p', podIPs: [], clusterDomain: 'c' }), undefined);
  const own = { name: 'x', volumeMounts: [{ name: 'v', mountPath: '/etc/hosts' }] } as Container;
  assert.equal(etcHostsFile({ pod, container: own, podDir: '/p', podIPs: ['10.0.0.5'], clusterDomain: 'c' }), undefined);
  // Host network: the node's file plus the aliases.
  const hn = mkPod({ hostNetwork: true, hostAliases: [{ ip: '1.2.3.4', hostnames: ['a'] }] });
  assert.deepEqual(etcHostsFile({ pod: hn, container: hn.spec.containers[0]!, podDir: '/p', podIPs: [], clusterDomain: 'c' }), {
    hostPath: '/p/etc-hosts', containerPath: '/etc/hosts', prefix: '# Kubernetes-managed hosts file (host network).\n', includeFile: '/etc/hosts',
    suffix: '\n# Entries added by HostAliases.\n1.2.3.4\ta\n',
  });
});

test('setHostnameAsFQDN makes the sandbox hostname the FQDN', () => {
  assert.equal(sandboxHostname(mkPod({ subdomain: 's', setHostnameAsFQDN: true }), 'cluster.local'), 'web.s.ns1.svc.cluster.local');
  assert.equal(sandboxHostname(mkPod({ subdomain: 's' }), 'cluster.local'), 'web');
  assert.equal(buildSandboxSpec(mkPod({ subdomain: 's', setHostnameAsFQDN: true }), 'pause', { clusterDomain: 'k.test' }).hostname, 'web.s.ns1.svc.k.test');
});

test('the container spec carries the hosts file (pod dir from the termination-log path) once the pod IP is known', () => {
  const pod = mkPod();
  assert.equal(spec(pod).files, undefined);
  assert.deepEqual(spec(pod, { podIP: '10.1.1.1' }).files?.map((f) => f.hostPath), ['/var/lib/dockerlet/pods/u-1/etc-hosts']);
  const opts = containerCreateOptions(spec(pod, { podIP: '10.1.1.1', podDir: '/x/u-1' }));
  assert.ok(opts.HostConfig?.Binds?.includes('/x/u-1/etc-hosts:/etc/hosts'));
});

test('securityContext fields: identity, groups, no-new-privs, caps, profiles, host namespaces', () => {
  const pod = mkPod({ securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000, 5000] }, hostPID: true, hostIPC: true },
    [{ securityContext: { allowPrivilegeEscalation: false, capabilities: { add: ['CAP_NET_ADMIN'], drop: ['all'] }, readOnlyRootFilesystem: true, procMount: 'Unmasked' } as Container['securityContext'] }]);
  const s = spec(pod);
  assert.equal(s.user, '1000:3000');
  assert.deepEqual(s.groupAdd, [2000, 4000, 5000]);
  assert.equal(s.noNewPrivileges, true);
  assert.deepEqual(s.capAdd, ['NET_ADMIN']);
  assert.deepEqual(s.capDrop, ['ALL']);
  assert.equal(s.seccomp, 'unconfined');
  const o = containerCreateOptions(s);
  const h = o.HostConfig as Record<string, unknown>;
  assert.deepEqual(h.GroupAdd, ['2000', '4000', '5000']);
  assert.deepEqual(h.SecurityOpt, ['no-new-privileges', 'seccomp=unconfined']);
  assert.equal(h.PidMode, 'host');
  assert.equal(h.IpcMode, 'host');
  assert.deepEqual(h.MaskedPaths, []);
  assert.deepEqual(h.ReadonlyPaths, []);
  assert.equal(h.ReadonlyRootfs, true);
  assert.equal(h.CgroupParent, '/kubepods/besteffort/podu-1');
  // Container values win over the pod's; a group alone is completed by the runtime from the image user.
  assert.equal(spec(mkPod({ securityContext: { runAsUser: 1 } }, [{ securityContext: { runAsUser: 2 } }])).user, '2');
  assert.equal(spec(mkPod({ securityContext: { runAsGroup: 7 } })).user, ':7');
});

test('seccomp and AppArmor profiles as the kubelet resolves them', () => {
  const c = (sc: Record<string, unknown>) => mkPod({}, [{ securityContext: sc as Container['securityContext'] }]);
  assert.equal(seccompProfile(mkPod(), mkPod().spec.containers[0]!), 'unconfined');
  assert.equal(seccompProfile(mkPod(), mkPod().spec.containers[0]!, { seccompDefault: true }), 'runtime/default');
  const local = c({ seccompProfile: { type: 'Localhost', localhostProfile: 'prof.json' } });
  assert.equal(seccompProfile(local, local.spec.containers[0]!, { seccompRoot: '/var/lib/dockerlet/seccomp' }), 'localhost//var/lib/dockerlet/seccomp/prof.json');
  const podLevel = mkPod({ securityContext: { seccompProfile: { type: 'RuntimeDefault' } } });
  assert.equal(containerSecurityFields(podLevel, podLevel.spec.containers[0]!).seccomp, undefined, 'runtime default = no option');
  const aa = c({ appArmorProfile: { type: 'Localhost', localhostProfile: 'k8s-deny' } });
  const s = spec(aa);
  assert.equal(s.appArmor, 'localhost/k8s-deny');
  assert.ok((containerCreateOptions(s).HostConfig?.SecurityOpt ?? []).includes('apparmor=k8s-deny'));
  const ann = mkPod();
  ann.metadata.annotations = { 'container.apparmor.security.beta.kubernetes.io/c0': 'unconfined' };
  assert.equal(spec(ann).appArmor, 'unconfined');
  // Admission: a profile other than Unconfined needs AppArmor on the host.
  assert.deepEqual(appArmorAdmit(aa, false), { reason: 'AppArmor', message: 'Cannot enforce AppArmor: AppArmor is not enabled on the host' });
  assert.equal(appArmorAdmit(aa, true), undefined);
  assert.equal(appArmorAdmit(ann, false), undefined, 'unconfined needs nothing');
  assert.equal(appArmorAdmit(mkPod(), false), undefined);
  const withJson = containerCreateOptions(spec(local, { rootDir: '/r' }), { seccompProfiles: { 'localhost//r/seccomp/prof.json': '{"defaultAction":"SCMP_ACT_ALLOW"}' } });
  assert.ok(withJson.HostConfig?.SecurityOpt?.includes('seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'));
});

test('privileged: Docker Privileged, or (daemon short of capabilities) every held cap, unconfined, unmasked', () => {
  const pod = mkPod({}, [{ securityContext: { privileged: true } }]);
  const s = spec(pod);
  assert.equal(s.seccomp, undefined);
  assert.equal(containerCreateOptions(s).HostConfig?.Privileged, true);
  const o = containerCreateOptions(s, { privilegedCaps: ['CHOWN', 'NET_ADMIN', 'SYS_ADMIN'], hostDevices: ['/dev/loop0'] }).HostConfig as Record<string, unknown>;
  assert.equal(o.Privileged, false);
  assert.deepEqual(o.Devices, [{ PathOnHost: '/dev/loop0', PathInContainer: '/dev/loop0', CgroupPermissions: 'rwm' }]);
  assert.deepEqual(o.DeviceCgroupRules, ['c *:* rwm', 'b *:* rwm']);
  assert.deepEqual(o.CapAdd, ['CHOWN', 'NET_ADMIN', 'SYS_ADMIN']);
  assert.deepEqual(o.SecurityOpt, ['seccomp=unconfined', 'apparmor=unconfined']);
  assert.deepEqual(o.MaskedPaths, []);
  // CapBnd without CAP_SYS_RESOURCE (bit 24), with bits beyond Docker 20.10's list.
  const caps = privilegedCapabilities('CapBnd:\t000001fffeffffff\n');
  assert.ok(caps && !caps.includes('SYS_RESOURCE') && caps.includes('NET_ADMIN') && caps.length === 37);
  assert.equal(privilegedCapabilities('CapBnd:\t000001ffffffffff\n'), undefined);
});

test('runAsNonRoot: runAsUser 0 refused at build time; the image user checked by the runtime', () => {
  assert.throws(() => spec(mkPod({ securityContext: { runAsNonRoot: true, runAsUser: 0 } })),
    (e: unknown) => isCode(e, ErrorCodes.CONTAINER_CONFIG) && /container's runAsUser breaks non-root policy \(pod: "web_ns1\(u-1\)", container: c0\)/.test((e as Error).message));
  assert.deepEqual(spec(mkPod({ securityContext: { runAsNonRoot: true } })).verifyNonRoot, { pod: 'web_ns1(u-1)' });
  assert.equal(spec(mkPod({ securityContext: { runAsNonRoot: true, runAsUser: 5 } })).verifyNonRoot, undefined);
  assert.match(nonRootViolation('', 'p', 'c')!, /image will run as root/);
  assert.match(nonRootViolation('0:0', 'p', 'c')!, /image will run as root/);
  assert.match(nonRootViolation('nobody', 'p', 'c')!, /non-numeric user \(nobody\), cannot verify user is non-root/);
  assert.equal(nonRootViolation('1234:50', 'p', 'c'), undefined);
});

test('pod cgroup parent per QoS class, and the sandbox options Docker gets', () => {
  const guaranteed = mkPod({}, [{ resources: { limits: { cpu: '1', memory: '1Gi' } } }]);
  const burstable = mkPod({}, [{ resources: { requests: { cpu: '100m' } } }]);
  assert.equal(podCgroupParent(guaranteed), '/kubepods/podu-1');
  assert.equal(podCgroupParent(burstable), '/kubepods/burstable/podu-1');
  assert.equal(podCgroupParent(mkPod()), '/kubepods/besteffort/podu-1');
  assert.equal(systemdSlice('/kubepods/burstable/pod12-34'), 'kubepods-burstable-pod12_34.slice');
  const sb = buildSandboxSpec(mkPod({ securityContext: { sysctls: [{ name: 'net/ipv4/tcp_syncookies', value: '0' }] }, hostPID: true }), 'pause');
  const o = sandboxCreateOptions(sb).HostConfig as Record<string, unknown>;
  assert.deepEqual(o.Sysctls, { 'net.ipv4.tcp_syncookies': '0' });
  assert.equal(o.PidMode, 'host');
  assert.equal(o.IpcMode, 'shareable');
  assert.equal(o.CgroupParent, '/kubepods/besteffort/podu-1');
  assert.equal(sandboxCreateOptions(sb, { cgroupDriver: 'systemd' }).HostConfig?.CgroupParent, 'kubepods-besteffort-podu_1.slice');
  assert.equal(buildSandboxSpec(mkPod(), 'pause', { cgroupsPerQOS: false }).cgroupParent, undefined);
  assert.equal(sandboxCreateOptions(buildSandboxSpec(mkPod({ hostIPC: true }), 'pause')).HostConfig?.IpcMode, 'host');
});

test('MissingClusterDNS: ClusterFirst without --cluster-dns falls back to Default with a Warning', async () => {
  const { missingClusterDns } = await import('../../../agent/containers/dns.js');
  assert.deepEqual(missingClusterDns(mkPod(), {}), {
    node: 'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.',
    pod: 'pod: "web_ns1(u-1)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.',
  });
  assert.equal(missingClusterDns(mkPod(), { clusterDNS: ['10.96.0.10'] }), undefined);
  assert.equal(missingClusterDns(mkPod({ hostNetwork: true }), {}), undefined, 'ClusterFirst on the host network is Default');
  assert.ok(missingClusterDns(mkPod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), {}));
  assert.equal(missingClusterDns(mkPod({ dnsPolicy: 'None' }), {}), undefined);
});

test('pod cgroup limits as ResourceConfigForPod (sidecars and init containers, per QoS class)', () => {
  assert.deepEqual(podCgroupResources(mkPod()), { cpuShares: 2 });
  const g = mkPod({}, [{ resources: { limits: { cpu: '500m', memory: '1Gi' }, requests: { cpu: '500m', memory: '1Gi' } } },
    { resources: { limits: { cpu: '250m', memory: '1Gi' }, requests: { cpu: '250m', memory: '1Gi' } } }]);
  assert.deepEqual(podCgroupResources(g), { cpuShares: 768, cpuPeriod: 100000, cpuQuota: 75000, memoryLimitBytes: 2 * 1024 ** 3 });
  // Burstable: a container without a memory limit → no pod memory limit; CPU limits on all → quota.
  const b = mkPod({}, [{ resources: { requests: { cpu: '100m' }, limits: { cpu: '200m' } } }, { resources: { limits: { cpu: '300m', memory: '64Mi' } } }]);
  assert.deepEqual(podCgroupResources(b), { cpuShares: 409, cpuPeriod: 100000, cpuQuota: 50000 });
  // An init container bigger than the app containers sets the request; a sidecar adds to both.
  const init = mkPod({ initContainers: [{ name: 'i', resources: { requests: { cpu: '2' } } }, { name: 's', restartPolicy: 'Always', resources: { requests: { cpu: '100m' } } }] },
    [{ resources: { requests: { cpu: '100m' } } }]);
  assert.equal(podCgroupResources(init).cpuShares, 2048);
  assert.equal(buildSandboxSpec(g, 'pause').podResources?.memoryLimitBytes, 2 * 1024 ** 3);
});

test('pod cgroup files: v1 controllers or the v2 unified files; empty pod dirs removed, busy ones kept', async () => {
  const { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { writePodCgroup, removeEmptyCgroups } = await import('../../../runtime/docker/runtime.js');
  const v1 = mkdtempSync(join(tmpdir(), 'cg1-'));
  const v2 = mkdtempSync(join(tmpdir(), 'cg2-'));
  try {
    for (const c of ['cpu', 'memory']) mkdirSync(join(v1, c, 'kubepods/pod1'), { recursive: true });
    await writePodCgroup('/kubepods/pod1', { cpuShares: 102, cpuPeriod: 100000, cpuQuota: 10000, memoryLimitBytes: 1 << 26 }, v1);
    const r1 = (p: string) => readFileSync(join(v1, p), 'utf8');
    assert.deepEqual([r1('cpu/kubepods/pod1/cpu.shares'), r1('cpu/kubepods/pod1/cpu.cfs_quota_us'), r1('memory/kubepods/pod1/memory.limit_in_bytes')], ['102', '10000', String(1 << 26)]);
    writeFileSync(join(v2, 'cgroup.controllers'), 'cpu memory');
    mkdirSync(join(v2, 'kubepods/burstable/pod2'), { recursive: true });
    await writePodCgroup('/kubepods/burstable/pod2', { cpuShares: 1024, cpuPeriod: 100000, cpuQuota: 50000 }, v2);
    assert.equal(readFileSync(join(v2, 'kubepods/burstable/pod2/cpu.weight'), 'utf8'), '39');
    assert.equal(readFileSync(join(v2, 'kubepods/burstable/pod2/cpu.max'), 'utf8'), '50000 100000');
    // removal: a dir with files is busy here (rmdir refuses), an empty one goes.
    mkdirSync(join(v1, 'cpu', 'kubepods/besteffort/pod3'), { recursive: true });
    assert.equal(await removeEmptyCgroups(['/kubepods/besteffort/pod3'], v1), true);
    assert.equal(existsSync(join(v1, 'cpu', 'kubepods/besteffort/pod3')), false);
    assert.equal(await removeEmptyCgroups(['/kubepods/pod1'], v1), false);
    assert.ok(existsSync(join(v1, 'cpu', 'kubepods/pod1')));
  } finally {
    rmSync(v1, { recursive: true, force: true });
    rmSync(v2, { recursive: true, force: true });
  }
});
