// The collector on a cgroup v2 / systemd-driver fixture tree with a narrow fake of the Docker API
// (list, inspect, info, an idle event stream) and an injected clock.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type Dockerode from 'dockerode';
import { FakeClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/log.js';
import { Collector } from '../../../metrics/collector.js';
import { ID, tree, v2Container } from './fixtures.js';

const CG = `system.slice/docker-${ID}.scope`;
const PID = 4242;
const NETDEV = (rx: number) => [
  'Inter-|   Receive                                                |  Transmit',
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
  `  eth0: ${rx} 10 0 0 0 0 0 0 500 5 0 0 0 0 0 0`,
  '',
].join('\n');

const calls = { list: 0, inspect: 0 };
const streams: PassThrough[] = [];

const INSPECT = {
  Id: ID, Name: '/web', Created: '2026-12-04T10:00:00.5Z', State: { Running: true, Pid: PID },
  Config: { Image: 'nginx:1.27', Labels: { app: 'x' } }, HostConfig: { NetworkMode: 'bridge' },
};

function fakeDocker(): Dockerode {
  return {
    info: async () => ({ CgroupDriver: 'systemd', ServerVersion: '28.0.0', DockerRootDir: '/' }),
    listContainers: async () => { calls.list++; return [{ Id: ID, Labels: { app: 'x' } }]; },
    getContainer: () => ({
      inspect: async () => { calls.inspect++; return INSPECT; },
    }),
    getEvents: async (opts: { abortSignal?: AbortSignal }) => {
      const s = new PassThrough();
      streams.push(s);
      opts.abortSignal?.addEventListener('abort', () => s.end(), { once: true });
      return s;
    },
  } as unknown as Dockerode;
}

function setup() {
  const root = tree({
    'cgroup/cgroup.controllers': 'cpu io memory pids\n',
    'cgroup/cpu.stat': 'usage_usec 900000000\nuser_usec 600000000\nsystem_usec 300000000\n',
    'cgroup/memory.stat': 'anon 1000\nfile 2000\ninactive_file 500\n',
    ...Object.fromEntries(Object.entries(v2Container(CG)).map(([k, v]) => [`cgroup/${k}`, v])),
    [`proc/${PID}/cgroup`]: `0::/${CG}\n`,
    [`proc/${PID}/net/dev`]: NETDEV(1000),
    'proc/1/net/dev': NETDEV(99),
    'proc/meminfo': 'MemTotal:       1000 kB\nMemFree:         400 kB\nInactive(file):  100 kB\n',
  });
  const clock = new FakeClock(Date.UTC(2026, 11, 4, 12));
  const collector = new Collector({ docker: fakeDocker(), clock, log: silentLogger() }, {
    layout: { version: 2, root: join(root, 'cgroup') }, procRoot: join(root, 'proc'), stateDir: join(root, 'state'),
  });
  return { root, clock, collector, cg: join(root, 'cgroup', CG) };
}

test('the first housekeeping finds the container through /proc/<pid>/cgroup and reads it', async (t) => {
  const { root, collector } = setup();
  const ac = new AbortController();
  t.after(async () => { ac.abort(); await collector.stop(); rmSync(root, { recursive: true, force: true }); });
  await collector.start(ac.signal);
  const s = collector.snapshot()!;
  assert.equal(s.containers.length, 1);
  const c = s.containers[0]!;
  assert.equal(c.id, `/${CG}`);
  assert.equal(c.meta?.name, 'web');
  assert.equal(c.meta?.image, 'nginx:1.27');
  assert.equal(c.startTime, Date.parse('2026-12-04T10:00:00.5Z'));
  assert.equal(c.sample.cpu.totalNs, 2.5e9);
  assert.deepEqual(c.network.map((i) => [i.name, i.rxBytes]), [['eth0', 1000]]);
  assert.equal(c.oomEvents, 2, 'kills the cgroup counted before the agent saw it');
  assert.equal(s.node.id, '/');
  assert.equal(s.node.sample.memory.usage, 600 * 1024, 'the v2 root: MemTotal − MemFree');
  assert.equal(s.node.sample.memory.workingSet, 600 * 1024 - 500, '… − inactive_file of the root memory.stat');
  assert.equal(s.node.network[0]?.rxBytes, 99);
  assert.equal(c.usageNanoCores, undefined, 'no rate from one sample');
});

test('CPU rate from two samples on the injected clock; an idle container reuses its last full read', async (t) => {
  const { root, clock, collector, cg } = setup();
  const ac = new AbortController();
  t.after(async () => { ac.abort(); await collector.stop(); rmSync(root, { recursive: true, force: true }); });
  await collector.start(ac.signal);
  writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 3000000\nuser_usec 2400000\nsystem_usec 600000\n');
  clock.advance(2000);
  await collector.housekeep();
  let c = collector.snapshot()!.containers[0]!;
  assert.equal(c.usageNanoCores, 250_000_000, '0.5 s of CPU over 2 s');
  assert.equal(c.sample.cpu.userNs, 2.4e9);
  const read = c.sample;
  writeFileSync(join(cg, 'io.stat'), '8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n'); // no CPU, no memory change: not re-read
  clock.advance(1000);
  await collector.housekeep();
  c = collector.snapshot()!.containers[0]!;
  assert.equal(c.sample, read, 'CPU time, memory usage and memory.stat unchanged: the last read is reused');
  assert.equal(c.usageNanoCores, 0);
  writeFileSync(join(cg, 'memory.stat'), 'anon 1\nfile 2\ninactive_file 3\n'); // reclaim: no CPU, same usage
  clock.advance(10_000);
  await collector.housekeep();
  c = collector.snapshot()!.containers[0]!;
  assert.equal(c.sample, read, 'found unchanged: not looked at again before 15 s (dynamic housekeeping)');
  clock.advance(5000);
  await collector.housekeep();
  c = collector.snapshot()!.containers[0]!;
  assert.equal(c.sample.memory.rss, 1, 'memory.stat moved: memory read again');
  assert.equal(c.sample.blkio[0]?.readBytes, 1, 'and block I/O (writeback moves it without the container running)');
  assert.equal(c.sample.processes, read.processes, 'the rest (nothing ran) kept from the last full read');
  assert.equal(c.sample.cpu, read.cpu);
  writeFileSync(join(cg, 'memory.current'), '999\n'); // memory moves without the container running
  clock.advance(15_000);
  await collector.housekeep();
  c = collector.snapshot()!.containers[0]!;
  assert.equal(c.sample.memory.usage, 999, 'memory usage moved: memory read again');
  assert.equal(c.sample.processes, read.processes);
  writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 3000001\n');
  writeFileSync(join(cg, 'memory.current'), '1234\n');
  clock.advance(1000);
  await collector.housekeep();
  assert.equal(collector.snapshot()!.containers[0]!.sample.memory.usage, 1234, 'CPU moved: a full read');
});

test('a container whose cgroup is gone disappears from the next snapshot', async (t) => {
  const { root, clock, collector, cg } = setup();
  const ac = new AbortController();
  t.after(async () => { ac.abort(); await collector.stop(); rmSync(root, { recursive: true, force: true }); });
  await collector.start(ac.signal);
  assert.equal(collector.snapshot()!.containers.length, 1);
  rmSync(cg, { recursive: true, force: true });
  clock.advance(1000);
  await collector.housekeep();
  assert.equal(collector.snapshot()!.containers.length, 0);
});

test('OOM counts persist: a new collector on the same state dir starts from the saved count', async (t) => {
  const { root, clock, collector, cg } = setup();
  const ac = new AbortController();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  await collector.start(ac.signal);
  writeFileSync(join(cg, 'memory.events'), 'oom 4\noom_kill 3\n');
  writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 9000000\n');
  clock.advance(1000);
  await collector.housekeep();
  assert.equal(collector.snapshot()!.containers[0]!.oomEvents, 3);
  ac.abort();
  await collector.stop();
  const again = new Collector({ docker: fakeDocker(), clock, log: silentLogger() }, {
    layout: { version: 2, root: join(root, 'cgroup') }, procRoot: join(root, 'proc'), stateDir: join(root, 'state'),
  });
  const ac2 = new AbortController();
  await again.start(ac2.signal);
  assert.equal(again.snapshot()!.containers[0]!.oomEvents, 3, 'not recounted, not lost');
  ac2.abort();
  await again.stop();
});

/** A started collector after its first housekeeping on a connected event stream; `send` writes one container event. */
async function running(t: { after(fn: () => Promise<void>): void }) {
  const { root, clock, collector } = setup();
  const ac = new AbortController();
  t.after(async () => { ac.abort(); await collector.stop(); rmSync(root, { recursive: true, force: true }); });
  await collector.start(ac.signal);
  await new Promise((r) => setImmediate(r));
  clock.advance(1000);
  await collector.housekeep(); // the stream connected: one re-list for what it may have missed
  const stream = streams.at(-1)!;
  const send = (Action: string, offsetMs = 1) => stream.write(`${JSON.stringify({ Type: 'container', Action, Actor: { ID, Attributes: Action === 'start' ? { name: 'web' } : {} }, timeNano: (clock.now() + offsetMs) * 1e6 })}\n`);
  /** Lets the events arrive, then runs a housekeeping pass one second later. */
  const pass = async () => {
    await new Promise((r) => setImmediate(r));
    clock.advance(1000);
    await collector.housekeep();
  };
  return { collector, send, pass };
}

test('container events update the cached list without a full re-list', async (t) => {
  const { collector, send, pass } = await running(t);
  const before = calls.list;
  send('die');
  await pass();
  assert.equal(collector.snapshot()!.containers.length, 0, "a 'die' event drops the container");
  send('start');
  await pass();
  assert.equal(collector.snapshot()!.containers.length, 1, "a 'start' event adds it back (inspected)");
  assert.equal(calls.list, before, 'no full re-list');
});

test('an idle container past the reuse window: memory re-read, fd count kept (nothing ran); network read every pass', async (t) => {
  const { root, clock, collector, cg } = setup();
  const fdDir = (pid: number) => join(root, 'proc', String(pid), 'fd');
  for (const pid of [101, 102]) { // the fixture cgroup's processes
    mkdirSync(fdDir(pid), { recursive: true });
    for (const n of ['0', '1', '2']) writeFileSync(join(fdDir(pid), n), '');
  }
  const ac = new AbortController();
  t.after(async () => { ac.abort(); await collector.stop(); rmSync(root, { recursive: true, force: true }); });
  await collector.start(ac.signal);
  const fds0 = collector.snapshot()!.containers[0]!.sample.processes.fds;
  assert.equal(fds0, 6);
  for (const n of ['3', '4']) writeFileSync(join(fdDir(101), n), '');
  writeFileSync(join(cg, 'io.stat'), '8:0 rbytes=5 wbytes=6 rios=7 wios=8 dbytes=0 dios=0\n');
  writeFileSync(join(root, 'proc', String(PID), 'net', 'dev'), NETDEV(5000));
  clock.advance(10_000);
  await collector.housekeep();
  let c = collector.snapshot()!.containers[0]!;
  assert.equal(c.network[0]?.rxBytes, 5000, 'network counters move without the container running');
  assert.notEqual(c.sample.blkio[0]?.readBytes, 5, 'within the reuse window, nothing moved: the last full read');
  clock.advance(301_000);
  await collector.housekeep();
  c = collector.snapshot()!.containers[0]!;
  assert.equal(c.sample.blkio[0]?.readBytes, 5, 'past the window: re-read');
  assert.equal(c.sample.processes.fds, fds0, 'no CPU moved, so no fd was opened: the count is kept');
  writeFileSync(join(cg, 'memory.current'), '777\n');
  clock.advance(10_000);
  await collector.housekeep();
  c = collector.snapshot()!.containers[0]!;
  assert.equal(c.sample.memory.usage, 777, 'usage moved: re-read at once');
  assert.equal(c.sample.processes.fds, fds0, 'still no CPU moved: the fd count is kept');
  writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 900000001\n');
  clock.advance(10_000);
  await collector.housekeep();
  assert.equal(collector.snapshot()!.containers[0]!.sample.processes.fds, 8, 'CPU moved: fds counted again');
});

test("limits are kept between reads until a 'docker update' event (or 5 min) and then read again", async (t) => {
  const { root, clock, collector, cg } = setup();
  const ac = new AbortController();
  t.after(async () => { ac.abort(); await collector.stop(); rmSync(root, { recursive: true, force: true }); });
  await collector.start(ac.signal);
  await new Promise((r) => setImmediate(r));
  const spec = () => collector.snapshot()!.containers[0]!.sample.spec;
  assert.equal(spec().memoryLimit, 67108864);
  assert.equal(spec().cpuQuota, 50000);
  writeFileSync(join(cg, 'memory.max'), '134217728\n');
  writeFileSync(join(cg, 'cpu.max'), '100000 100000\n');
  writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 900000001\n');
  clock.advance(10_000);
  await collector.housekeep();
  assert.equal(collector.snapshot()!.containers[0]!.sample.cpu.totalNs, 900000001000, 'a full read (CPU moved)');
  assert.equal(spec().memoryLimit, 67108864, '… that did not read the limit files again');
  streams.at(-1)!.write(`${JSON.stringify({ Type: 'container', Action: 'update', Actor: { ID, Attributes: { name: 'web' } }, timeNano: (clock.now() + 1) * 1e6 })}\n`);
  await new Promise((r) => setImmediate(r));
  clock.advance(10_000);
  await collector.housekeep();
  assert.equal(spec().memoryLimit, 134217728, "the 'update' event: limits read again, although nothing ran");
  assert.equal(spec().cpuQuota, 100000);
  writeFileSync(join(cg, 'memory.max'), 'max\n');
  clock.advance(301_000);
  await collector.housekeep();
  assert.equal(spec().memoryLimit, 0, 'after 5 min without an event: read again (unlimited → 0)');
});

test("a container the agent's runtime inspected after its start is measured without an inspect of the collector's own", async (t) => {
  const { collector, send, pass } = await running(t);
  send('die');
  await pass();
  assert.equal(collector.snapshot()!.containers.length, 0);
  const before = calls.inspect;
  collector.offerInspect(INSPECT as unknown as Dockerode.ContainerInspectInfo); // the runtime's look after its start
  send('start');
  await pass();
  assert.equal(collector.snapshot()!.containers.length, 1);
  assert.equal(collector.snapshot()!.containers[0]!.meta?.name, 'web');
  assert.equal(calls.inspect, before, 'no inspect of its own');
  // A later restart is inspected by the collector again (the die dropped what was offered).
  send('die');
  send('start', 2);
  await pass();
  assert.equal(calls.inspect, before + 1);
});
