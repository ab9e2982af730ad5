// End to end through kubectl and the real agent + Docker: a pod's securityContext as the kubelet applies
// it (user/groups, fsGroup on volumes, no_new_privs, capabilities, read-only root, seccomp, privileged,
// runAsNonRoot refusals), sysctls on the sandbox, host namespaces, and the per-QoS pod cgroup parent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Pod } from '../../../kube/api.js';
import { startBed, type Bed } from '../agent/bed.js';

const NODE = 'dl-e2e-security';
const NS = 'e2e-sec';
const IMAGE = 'dockerlet/busybox:1.36';
let bed: Bed | undefined;
const b = () => bed as Bed;

const exec = (pod: string, container: string, script: string) => b().exec(NS, pod, container, ['sh', '-c', script]);
const sleeper = (name: string, extra: Record<string, unknown> = {}) =>
  ({ name, image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'], ...extra });

function pod(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { terminationGracePeriodSeconds: 1, ...spec } });
}

async function running(name: string): Promise<Pod> {
  return b().waitFor(async () => {
    const p = await b().kubectlJson<Pod>(['get', 'pod', name, '-n', NS]);
    return p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((s) => s.state?.running) ? p : undefined;
  }, { what: `pod ${name} running`, timeoutMs: 90_000 });
}

async function inspect(name: string, container: string): Promise<{ HostConfig: Record<string, unknown> }> {
  const id = await b().containerId(NS, name, container, { running: true });
  assert.ok(id, `container ${name}/${container}`);
  return (JSON.parse(await b().docker(['inspect', id])) as { HostConfig: Record<string, unknown> }[])[0]!;
}

before(async () => {
  bed = await startBed({ nodeName: NODE });
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
  await bed.kubectl(['create', 'secret', 'generic', 'sec', '-n', NS, '--from-literal=key=s3cret']);
  await bed.apply(pod('ids', {
    securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000] },
    volumes: [{ name: 'data', emptyDir: {} }, { name: 'sec', secret: { secretName: 'sec', defaultMode: 0o440 } }],
    containers: [sleeper('c', {
      securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } },
      volumeMounts: [{ name: 'data', mountPath: '/data' }, { name: 'sec', mountPath: '/sec' }],
    })],
  }));
  await bed.apply(pod('sysctl', {
    securityContext: { sysctls: [{ name: 'kernel/shm_rmid_forced', value: '1' }, { name: 'net.ipv4.ip_local_port_range', value: '32768 32800' }] },
    containers: [sleeper('c', {
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      resources: { limits: { cpu: '100m', memory: '64Mi' }, requests: { cpu: '100m', memory: '64Mi' } },
    })],
  }));
  await bed.apply(pod('hostns', {
    hostPID: true, hostIPC: true, hostNetwork: true,
    hostAliases: [{ ip: '123.45.67.89', hostnames: ['foo.example', 'bar'] }],
    containers: [sleeper('c')],
  }));
  await bed.apply(pod('priv', { containers: [sleeper('c', { securityContext: { privileged: true } }), sleeper('plain')] }));
  // A Localhost seccomp profile under <root-dir>/seccomp that refuses mkdir.
  mkdirSync(join(bed.dir, 'root', 'seccomp'), { recursive: true });
  writeFileSync(join(bed.dir, 'root', 'seccomp', 'deny-mkdir.json'), JSON.stringify({
    defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
  }));
  await bed.apply(pod('seccomp', {
    securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'deny-mkdir.json' } },
    containers: [sleeper('c'), sleeper('missing', { securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: 'nope.json' } } })],
  }));
  await bed.apply(pod('grouponly', { securityContext: { runAsGroup: 3000 }, containers: [sleeper('c')] }));
  await bed.apply(pod('nonroot', {
    containers: [
      sleeper('image-root', { securityContext: { runAsNonRoot: true } }),
      sleeper('uid0', { securityContext: { runAsNonRoot: true, runAsUser: 0 } }),
      sleeper('ok', { securityContext: { runAsNonRoot: true, runAsUser: 1234 } }),
    ],
  }));
}, { timeout: 240_000 });

after(async () => {
  await bed?.stop();
}, { timeout: 120_000 });

test('runAsUser/runAsGroup/fsGroup/supplementalGroups set the process identity', { timeout: 120_000 }, async () => {
  await running('ids');
  assert.equal((await exec('ids', 'c', 'id -u')).trim(), '1000');
  assert.equal((await exec('ids', 'c', 'id -g')).trim(), '3000');
  const groups = (await exec('ids', 'c', 'id -G')).trim().split(/\s+/);
  assert.ok(groups.includes('2000') && groups.includes('4000'), `groups ${groups.join(',')}`);
});

test('fsGroup: emptyDir is group-owned and setgid; a 0440 secret is readable by the non-root user', { timeout: 60_000 }, async () => {
  await running('ids');
  assert.equal((await exec('ids', 'c', 'touch /data/f && stat -c %g /data/f')).trim(), '2000', 'new files inherit the fsGroup');
  assert.match((await exec('ids', 'c', 'stat -c %A /data')).trim(), /^d.....s/, 'setgid directory');
  assert.equal(await exec('ids', 'c', 'cat /sec/key'), 's3cret');
  assert.equal((await exec('ids', 'c', 'stat -L -c %a:%g /sec/key')).trim(), '440:2000');
});

test('runAsGroup alone keeps the image user (root here) with that primary group', { timeout: 120_000 }, async () => {
  await running('grouponly');
  assert.equal((await exec('grouponly', 'c', 'id -u')).trim(), '0');
  assert.equal((await exec('grouponly', 'c', 'id -g')).trim(), '3000');
});

test('allowPrivilegeEscalation=false, capabilities and readOnlyRootFilesystem', { timeout: 60_000 }, async () => {
  await running('ids');
  assert.match(await exec('ids', 'c', 'grep NoNewPrivs /proc/self/status'), /NoNewPrivs:\s+1/);
  assert.match(await exec('ids', 'c', 'grep CapBnd /proc/self/status'), /CapBnd:\s+0000000000000400/, 'only NET_BIND_SERVICE');
  assert.match(await exec('ids', 'c', 'touch /rootfs-write 2>&1 || echo refused'), /refused/);
  assert.match(await exec('ids', 'c', 'grep Seccomp: /proc/self/status'), /Seccomp:\s+0/, 'no profile set: Unconfined (seccompDefault false)');
});

test('sysctls (slash names converted) reach the pod; RuntimeDefault seccomp filters; Guaranteed pod cgroup', { timeout: 120_000 }, async () => {
  const p = await running('sysctl');
  assert.equal((await exec('sysctl', 'c', 'cat /proc/sys/kernel/shm_rmid_forced')).trim(), '1');
  assert.equal((await exec('sysctl', 'c', 'cat /proc/sys/net/ipv4/ip_local_port_range')).trim().split(/\s+/).join(' '), '32768 32800');
  assert.match(await exec('sysctl', 'c', 'grep Seccomp: /proc/self/status'), /Seccomp:\s+2/);
  assert.equal((await inspect('sysctl', 'c')).HostConfig.CgroupParent, `/kubepods/pod${p.metadata.uid}`);
  assert.equal((await exec('sysctl', 'c', 'cat /proc/self/cgroup | grep -m1 memory')).includes(`/kubepods/pod${p.metadata.uid}/`), true);
  // The pod cgroup's own limits (ResourceConfigForPod): shares of 100m, quota of 100m, memory 64Mi.
  const cg = (f: string) => readFileSync(`/sys/fs/cgroup/${f.startsWith('memory') ? 'memory' : 'cpu'}/kubepods/pod${p.metadata.uid}/${f}`, 'utf8').trim();
  assert.equal(cg('cpu.shares'), '102');
  assert.equal(cg('cpu.cfs_quota_us'), '10000');
  assert.equal(cg('memory.limit_in_bytes'), String(64 * 1024 * 1024));
});

test('BestEffort pod cgroup parent is /kubepods/besteffort/pod<uid>', { timeout: 60_000 }, async () => {
  const p = await running('ids');
  assert.equal((await inspect('ids', 'c')).HostConfig.CgroupParent, `/kubepods/besteffort/pod${p.metadata.uid}`);
});

test('the pod cgroup is removed with the pod\'s last container (container GC after deletion); so is an orphaned one left by containers removed behind the agent\'s back', { timeout: 300_000 }, async () => {
  const p = await running('grouponly');
  const dir = `/sys/fs/cgroup/memory/kubepods/besteffort/pod${p.metadata.uid}`;
  assert.ok(existsSync(dir), dir);
  // What `docker rm` of a pod's containers leaves: its empty pod cgroup, made a while ago.
  const stray = ['memory', 'cpu'].map((c) => `/sys/fs/cgroup/${c}/kubepods/besteffort/pod${randomUUID()}`);
  for (const d of stray) {
    mkdirSync(d);
    utimesSync(d, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
  }
  await b().kubectl(['delete', 'pod', 'grouponly', '-n', NS, '--wait=true', '--timeout=60s']);
  await b().waitFor(() => !existsSync(dir) && !existsSync(`/sys/fs/cgroup/cpu/kubepods/besteffort/pod${p.metadata.uid}`), { what: `${dir} removed`, timeoutMs: 150_000, intervalMs: 2000 });
  await b().waitFor(() => stray.every((d) => !existsSync(d)), { what: `${stray.join(', ')} removed`, timeoutMs: 90_000, intervalMs: 2000 });
});

test('seccomp Localhost: the profile under <root-dir>/seccomp filters; a missing one is CreateContainerConfigError', { timeout: 120_000 }, async () => {
  await b().waitFor(async () => (await b().containerId(NS, 'seccomp', 'c', { running: true })) !== undefined, { what: 'seccomp/c running', timeoutMs: 90_000 });
  assert.match(await exec('seccomp', 'c', 'mkdir /tmp/x 2>&1 || echo refused'), /refused/);
  assert.match(await exec('seccomp', 'c', 'grep Seccomp: /proc/self/status'), /Seccomp:\s+2/);
  const st = await b().waitFor(async () => {
    const p = await b().kubectlJson<Pod>(['get', 'pod', 'seccomp', '-n', NS]);
    const s = (p.status?.containerStatuses ?? []).find((x) => x.name === 'missing');
    return s?.state?.waiting?.reason === 'CreateContainerConfigError' ? s : undefined;
  }, { what: 'missing profile refused', timeoutMs: 60_000 });
  assert.match(st.state!.waiting!.message ?? '', /failed to load seccomp profile ".*\/seccomp\/nope\.json"/);
});

test('hostPID / hostIPC / hostNetwork join the host namespaces; /etc/hosts is the node file plus hostAliases', { timeout: 120_000 }, async () => {
  await running('hostns');
  assert.equal((await exec('hostns', 'c', 'readlink /proc/self/ns/pid')).trim(), readlinkSync('/proc/self/ns/pid'));
  assert.equal((await exec('hostns', 'c', 'readlink /proc/self/ns/ipc')).trim(), readlinkSync('/proc/self/ns/ipc'));
  assert.equal((await exec('hostns', 'c', 'readlink /proc/self/ns/net')).trim(), readlinkSync('/proc/self/ns/net'));
  const hosts = await exec('hostns', 'c', 'cat /etc/hosts');
  assert.ok(hosts.startsWith('# Kubernetes-managed hosts file (host network).\n'), hosts);
  assert.ok(hosts.endsWith('\n# Entries added by HostAliases.\n123.45.67.89\tfoo.example\tbar\n'), hosts);
});

test('privileged runs with the capabilities the host grants and no seccomp filter; a plain sibling does not', { timeout: 120_000 }, async () => {
  await running('priv');
  assert.equal((await exec('priv', 'c', 'mkdir -p /m && mount -t tmpfs t /m && echo mounted')).trim(), 'mounted');
  assert.match(await exec('priv', 'c', 'grep Seccomp: /proc/self/status'), /Seccomp:\s+0/);
  assert.match(await exec('priv', 'plain', 'mkdir -p /m && mount -t tmpfs t /m 2>&1 || echo refused'), /refused/);
});

test('runAsNonRoot: a root image user or runAsUser 0 is refused with CreateContainerConfigError', { timeout: 120_000 }, async () => {
  const p = await b().waitFor(async () => {
    const p = await b().kubectlJson<Pod>(['get', 'pod', 'nonroot', '-n', NS]);
    const st = new Map((p.status?.containerStatuses ?? []).map((s) => [s.name, s]));
    return st.get('image-root')?.state?.waiting?.reason === 'CreateContainerConfigError'
      && st.get('uid0')?.state?.waiting?.reason === 'CreateContainerConfigError' && st.get('ok')?.state?.running ? st : undefined;
  }, { what: 'nonroot pod: two refused, one running', timeoutMs: 90_000 });
  assert.match(p.get('image-root')!.state!.waiting!.message ?? '', /container has runAsNonRoot and image will run as root \(pod: "nonroot_e2e-sec\(.+\)", container: image-root\)/);
  assert.match(p.get('uid0')!.state!.waiting!.message ?? '', /container's runAsUser breaks non-root policy/);
  const events = await b().kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=nonroot', '-o', 'jsonpath={.items[*].message}']);
  assert.match(events, /runAsNonRoot/);
});
