// Fixture cgroup trees written from the kernel's documented file formats
// (Documentation/admin-guide/cgroup-v2.rst, cgroup-v1/{memory,cpuacct,blkio-controller}.rst, sched-bwc.rst).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ID = 'a'.repeat(64);

export function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'dkl-cg-'));
  for (const [rel, text] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
  return root;
}

/** A cgroup v2 container directory (systemd driver: system.slice/docker-<id>.scope). */
export function v2Container(dir: string): Record<string, string> {
  return {
    [`${dir}/cgroup.procs`]: '101\n102\n',
    [`${dir}/cpu.stat`]: 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 10\nthrottled_usec 300000\nnr_bursts 0\nburst_usec 0\n',
    [`${dir}/cpu.max`]: '50000 100000\n',
    [`${dir}/cpu.weight`]: '39\n',
    [`${dir}/memory.current`]: '10485760\n',
    [`${dir}/memory.peak`]: '12582912\n',
    [`${dir}/memory.stat`]: [
      'anon 4194304', 'file 6291456', 'kernel 0', 'kernel_stack 16384', 'shmem 0', 'file_mapped 1048576', 'file_dirty 0',
      'active_anon 4194304', 'inactive_anon 0', 'active_file 2097152', 'inactive_file 4194304', 'unevictable 0',
      'pgfault 1500', 'pgmajfault 7', '',
    ].join('\n'),
    [`${dir}/memory.swap.current`]: '1048576\n',
    [`${dir}/memory.max`]: '67108864\n',
    [`${dir}/memory.swap.max`]: 'max\n',
    [`${dir}/memory.min`]: '0\n',
    [`${dir}/memory.events`]: 'low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n',
    [`${dir}/io.stat`]: '8:0 rbytes=1048576 wbytes=2097152 rios=16 wios=32 dbytes=0 dios=0\n253:1 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n',
    [`${dir}/pids.current`]: '5\n',
    [`${dir}/pids.max`]: 'max\n',
  };
}

/** A cgroup v1 container under each controller (cgroupfs driver: docker/<id>), cpu and cpuacct co-mounted. */
export function v1Container(id: string): Record<string, string> {
  const cpu = `cpu,cpuacct/docker/${id}`;
  const mem = `memory/docker/${id}`;
  const blk = `blkio/docker/${id}`;
  const pids = `pids/docker/${id}`;
  return {
    [`${cpu}/cgroup.procs`]: '201\n',
    [`${cpu}/cpuacct.usage`]: '3000000000\n',
    [`${cpu}/cpuacct.stat`]: 'user 250\nsystem 50\n',
    [`${cpu}/cpu.stat`]: 'nr_periods 100\nnr_throttled 25\nthrottled_time 1500000000\n',
    [`${cpu}/cpu.cfs_quota_us`]: '-1\n',
    [`${cpu}/cpu.cfs_period_us`]: '100000\n',
    [`${cpu}/cpu.shares`]: '512\n',
    [`${mem}/cgroup.procs`]: '201\n',
    [`${mem}/memory.usage_in_bytes`]: '20971520\n',
    [`${mem}/memory.max_usage_in_bytes`]: '31457280\n',
    [`${mem}/memory.failcnt`]: '4\n',
    [`${mem}/memory.limit_in_bytes`]: '9223372036854771712\n',
    [`${mem}/memory.memsw.limit_in_bytes`]: '9223372036854771712\n',
    [`${mem}/memory.soft_limit_in_bytes`]: '9223372036854771712\n',
    [`${mem}/memory.memsw.usage_in_bytes`]: '22020096\n',
    [`${mem}/memory.oom_control`]: 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n',
    [`${mem}/memory.stat`]: [
      'cache 8388608', 'rss 12582912', 'mapped_file 2097152', 'pgfault 900', 'pgmajfault 3', 'inactive_file 5242880',
      'active_file 3145728', 'total_cache 8388608', 'total_rss 12582912', 'total_mapped_file 2097152', 'total_swap 0',
      'total_pgfault 950', 'total_pgmajfault 4', 'total_inactive_file 5242880', 'total_active_file 3145728', '',
    ].join('\n'),
    [`${blk}/blkio.throttle.io_service_bytes_recursive`]: '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n',
    [`${blk}/blkio.throttle.io_serviced_recursive`]: '8:0 Read 1\n8:0 Write 2\n8:0 Sync 0\n8:0 Async 3\n8:0 Discard 0\n8:0 Total 3\nTotal 3\n',
    [`${pids}/pids.current`]: '3\n',
    [`${pids}/pids.max`]: '1024\n',
    [`${pids}/cgroup.procs`]: '201\n',
  };
}

/** /proc/self/mountinfo lines for a v1 host with cpu,cpuacct co-mounted (proc(5) format). */
export function v1Mountinfo(root: string): string {
  const line = (id: number, dir: string, opts: string) =>
    `${id} 25 0:${id} / ${root}/${dir} rw,nosuid,nodev,noexec,relatime shared:${id} - cgroup cgroup rw,${opts}`;
  return [
    `24 1 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755`,
    `25 24 0:23 / ${root}/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate`,
    line(30, 'cpu,cpuacct', 'cpu,cpuacct'),
    line(31, 'memory', 'memory'),
    line(32, 'blkio', 'blkio'),
    line(33, 'pids', 'pids'),
    line(34, 'systemd', 'xattr,name=systemd'),
    '',
  ].join('\n');
}
