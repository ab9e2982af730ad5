import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { dockerCgroupPath, expandSlice, layoutFromMountinfo, pathFromProcCgroup } from '../../../metrics/cgroup/layout.js';
import { parseCpuMax, parseNetDev, weightToShares } from '../../../metrics/cgroup/parse.js';
import { cgroupExists, readCgroup } from '../../../metrics/cgroup/reader.js';
import { ID, tree, v1Container, v1Mountinfo, v2Container } from './fixtures.js';

test('cgroup v2, systemd driver: the container cgroup is found and read as cAdvisor maps it', async (t) => {
  const path = dockerCgroupPath(ID, 'systemd');
  assert.equal(path, `/system.slice/docker-${ID}.scope`);
  const root = tree({ 'cgroup.controllers': 'cpuset cpu io memory pids\n', ...v2Container(path.slice(1)) });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const layout = { version: 2 as const, root };
  const s = await readCgroup(layout, path, { procRoot: join(root, 'no-proc') });
  assert.equal(s.cpu.totalNs, 2_500_000_000);
  assert.equal(s.cpu.userNs, 2_000_000_000);
  assert.equal(s.cpu.systemNs, 500_000_000);
  assert.deepEqual([s.cpu.periods, s.cpu.throttledPeriods, s.cpu.throttledNs], [40, 10, 300_000_000]);
  assert.equal(s.memory.usage, 10_485_760);
  assert.equal(s.memory.workingSet, 10_485_760 - 4_194_304, 'working set = memory.current − inactive_file');
  assert.equal(s.memory.rss, 4_194_304, 'rss = anon');
  assert.equal(s.memory.cache, 6_291_456, 'cache = file');
  assert.equal(s.memory.mappedFile, 1_048_576);
  assert.equal(s.memory.swap, 1_048_576);
  assert.equal(s.memory.maxUsage, 12_582_912, 'max usage = memory.peak');
  assert.equal(s.memory.pgmajfault, 7);
  assert.equal(s.oomKills, 2, 'memory.events oom_kill');
  assert.deepEqual(s.blkio.map((d) => [d.major, d.minor, d.readBytes, d.writeBytes, d.reads, d.writes]), [[8, 0, 1_048_576, 2_097_152, 16, 32], [253, 1, 4096, 0, 1, 0]]);
  assert.deepEqual(s.processes, { processes: 2, threads: 5, threadsMax: 0, fds: 0, sockets: 0 });
  assert.deepEqual(s.spec, { cpuQuota: 50_000, cpuPeriod: 100_000, cpuShares: 998, memoryLimit: 67_108_864, memorySwapLimit: 0, memoryReservation: 0 });
  assert.equal(await cgroupExists(layout, path), true);
  assert.equal(await cgroupExists(layout, '/system.slice/docker-gone.scope'), false);
});

test('cgroup v2 without a quota: no CFS quota, cpu.max "max" and cpu.weight conversions', () => {
  assert.deepEqual(parseCpuMax('max 100000\n'), { quota: 0, period: 100_000 });
  assert.equal(weightToShares(1), 2);
  assert.equal(weightToShares(100), 2597, 'the default weight 100');
  assert.equal(weightToShares(39), 998, 'runc writes weight 39 for 1024 shares');
  assert.equal(weightToShares(10000), 262_144);
});

test('cgroup v1, cgroupfs driver, cpu,cpuacct co-mounted: mounts come from mountinfo', async (t) => {
  const root = tree(v1Container(ID));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const layout = layoutFromMountinfo(v1Mountinfo(root));
  assert.equal(layout.version, 1);
  assert.equal(layout.version === 1 && layout.mounts.cpuacct, `${root}/cpu,cpuacct`);
  const path = dockerCgroupPath(ID, 'cgroupfs');
  assert.equal(path, `/docker/${ID}`);
  const s = await readCgroup(layout, path);
  assert.equal(s.cpu.totalNs, 3e9);
  assert.equal(s.cpu.userNs, 2.5e9, 'cpuacct.stat user is in USER_HZ ticks');
  assert.equal(s.cpu.systemNs, 0.5e9);
  assert.equal(s.cpu.throttledNs, 1.5e9);
  assert.equal(s.memory.workingSet, 20_971_520 - 5_242_880, 'usage − total_inactive_file');
  assert.equal(s.memory.rss, 12_582_912);
  assert.equal(s.memory.cache, 8_388_608);
  assert.equal(s.memory.swap, 22_020_096 - 20_971_520, 'memsw.usage − usage');
  assert.equal(s.memory.failcnt, 4);
  assert.deepEqual([s.memory.pgfault, s.memory.hierPgfault], [900, 950]);
  assert.equal(s.oomKills, 1, 'memory.oom_control oom_kill');
  assert.deepEqual(s.spec, { cpuQuota: 0, cpuPeriod: 100_000, cpuShares: 512, memoryLimit: 0, memorySwapLimit: 0, memoryReservation: 0 },
    'unlimited (> 2^62) exported as 0; quota −1 as none');
  assert.deepEqual(s.blkio, [{ major: 8, minor: 0, readBytes: 4096, writeBytes: 8192, reads: 1, writes: 2 }]);
  assert.deepEqual([s.processes.processes, s.processes.threads, s.processes.threadsMax], [1, 3, 1024]);
});

test('a cgroup that vanished reads as zeros, not an exception', async (t) => {
  const root = tree({ 'x': '' });
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const s = await readCgroup({ version: 2, root }, '/system.slice/docker-gone.scope');
  assert.equal(s.cpu.totalNs, 0);
  assert.equal(s.oomKills, undefined);
});

test('systemd slices expand as runc does; a custom cgroupfs parent is kept', () => {
  assert.equal(expandSlice('kubepods-burstable-pod12.slice'), '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice');
  assert.equal(expandSlice('-.slice'), '/');
  assert.throws(() => expandSlice('bad--name.slice'));
  assert.equal(dockerCgroupPath(ID, 'systemd', 'kubepods-pod1.slice'), `/kubepods.slice/kubepods-pod1.slice/docker-${ID}.scope`);
  assert.equal(dockerCgroupPath(ID, 'cgroupfs', '/kubepods/pod1'), `/kubepods/pod1/${ID}`);
});

test('/proc/<pid>/cgroup: v1 memory line, v2 unified line', () => {
  const text = `12:memory:/docker/${ID}\n4:cpu,cpuacct:/docker/${ID}\n1:name=systemd:/docker/${ID}\n0::/system.slice/docker-${ID}.scope\n`;
  assert.equal(pathFromProcCgroup(text, 1), `/docker/${ID}`);
  assert.equal(pathFromProcCgroup(text, 2), `/system.slice/docker-${ID}.scope`);
});

test('v2 detection: a host with only cgroup2 mounted', () => {
  const mi = '25 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate\n';
  assert.deepEqual(layoutFromMountinfo(mi), { version: 2, root: '/sys/fs/cgroup' });
});

test('/proc/<pid>/net/dev: lo, veth* and docker* skipped; rx/tx columns as cAdvisor reads them', () => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
    '  eth0:  123456     789    1    2    0     0          0         0    65432     321    3    4    0     0       0          0',
    'veth12:       5       1    0    0    0     0          0         0        5       1    0    0    0     0       0          0',
    'docker0:      5       1    0    0    0     0          0         0        5       1    0    0    0     0       0          0',
    '',
  ].join('\n');
  assert.deepEqual(parseNetDev(text), [{
    name: 'eth0', rxBytes: 123456, rxPackets: 789, rxErrors: 1, rxDropped: 2, txBytes: 65432, txPackets: 321, txErrors: 3, txDropped: 4,
  }]);
});

test('/proc/<pid>/net/dev: an interface name without spaces after the colon, a short or garbled line, no trailing newline', () => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    'eth1:9007199254740991 2 0 0 0 0 0 0 7 1 0 0 0 0 0 0',
    ' bad0: 1 2 3',
    ' bad1: 1 2 x 4 0 0 0 0 5 6 7 8 0 0 0 0',
    '  tunl0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0',
  ].join('\n');
  assert.deepEqual(parseNetDev(text).map((i) => [i.name, i.rxBytes, i.rxPackets, i.txBytes, i.txPackets]), [
    ['eth1', 9007199254740991, 2, 7, 1], ['tunl0', 0, 0, 0, 0],
  ]);
  assert.deepEqual(parseNetDev(''), []);
  assert.deepEqual(parseNetDev('only one line'), []);
});
