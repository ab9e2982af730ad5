// A pod whose containers sit in a pod cgroup of their own (the agent's CgroupParent
// /kubepods/burstable/pod<uid>): the pod's CPU, memory and limits are that cgroup's (hierarchical, as the
// kubelet's cAdvisor reads it), not the sum of its containers; its id label is that cgroup. cgroup v2
// fixture tree, a narrow fake of the Docker API, an injected clock.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type Dockerode from 'dockerode';
import { FakeClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/log.js';
import { Collector } from '../../../metrics/collector.js';
import { ID, tree, v2Container } from './fixtures.js';

const UID = '11111111-2222-3333-4444-555555555555';
const POD = `kubepods/burstable/pod${UID}`;
const CG = `${POD}/${ID}`;
const PID = 4343;
const labels = {
  'io.kubernetes.pod.name': 'web', 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': UID, 'io.kubernetes.container.name': 'app',
};

function fakeDocker(): Dockerode {
  return {
    info: async () => ({ CgroupDriver: 'cgroupfs', ServerVersion: '28.0.0', DockerRootDir: '/' }),
    listContainers: async () => [{ Id: ID, Labels: labels }],
    getContainer: () => ({
      inspect: async () => ({
        Id: ID, Name: `/k8s_app_web_default_${UID}_0`, Created: '2026-12-04T10:00:00Z', State: { Running: true, Pid: PID },
        Config: { Image: 'busybox', Labels: labels }, HostConfig: { NetworkMode: 'bridge', CgroupParent: `/${POD}` },
      }),
    }),
    getEvents: async (opts: { abortSignal?: AbortSignal }) => {
      const s = new PassThrough();
      opts.abortSignal?.addEventListener('abort', () => s.end(), { once: true });
      return s;
    },
  } as unknown as Dockerode;
}

test("the pod's series come from its pod cgroup; process counts stay the containers' sum", async (t) => {
  const root = tree({
    'cgroup/cgroup.controllers': 'cpu io memory pids\n',
    'cgroup/cpu.stat': 'usage_usec 900000000\n',
    ...Object.fromEntries(Object.entries(v2Container(CG)).map(([k, v]) => [`cgroup/${k}`, v])),
    ...Object.fromEntries(Object.entries(v2Container(POD)).map(([k, v]) => [`cgroup/${k}`, v])),
    [`cgroup/${POD}/cpu.stat`]: 'usage_usec 7000000\nuser_usec 5000000\nsystem_usec 2000000\n',
    [`cgroup/${POD}/memory.current`]: '33554432\n',
    [`cgroup/${POD}/cgroup.procs`]: '',
    [`proc/${PID}/cgroup`]: `0::/${CG}\n`,
  });
  const clock = new FakeClock(Date.UTC(2026, 11, 4, 12));
  const collector = new Collector({ docker: fakeDocker(), clock, log: silentLogger() }, {
    layout: { version: 2, root: join(root, 'cgroup') }, procRoot: join(root, 'proc'), countFds: false,
  });
  const ac = new AbortController();
  t.after(async () => { ac.abort(); await collector.stop(); rmSync(root, { recursive: true, force: true }); });
  await collector.start(ac.signal);
  let pod = collector.snapshot()!.pods[0]!;
  assert.equal(pod.id, `/${POD}`);
  assert.equal(pod.sample.cpu.totalNs, 7e9, 'the pod cgroup, not the container (2.5 s)');
  assert.equal(pod.sample.memory.usage, 33554432);
  assert.equal(pod.sample.processes.processes, 2, "the containers' processes");
  // The pod cgroup holds only its containers' cgroups: its CPU moves because one of theirs does.
  writeFileSync(join(root, 'cgroup', POD, 'cpu.stat'), 'usage_usec 8000000\n');
  writeFileSync(join(root, 'cgroup', CG, 'cpu.stat'), 'usage_usec 3500000\n');
  clock.advance(2000);
  await collector.housekeep();
  pod = collector.snapshot()!.pods[0]!;
  assert.equal(pod.usageNanoCores, 500_000_000, "1 s of the pod cgroup's CPU over 2 s");
  writeFileSync(join(root, 'cgroup', POD, 'cpu.stat'), 'usage_usec 9000000\n'); // (cannot happen alone)
  clock.advance(2000);
  await collector.housekeep();
  pod = collector.snapshot()!.pods[0]!;
  assert.equal(pod.sample.cpu.totalNs, 8e9, 'no container moved: the pod cgroup is not read again');
  assert.equal(pod.usageNanoCores, 0);
});
