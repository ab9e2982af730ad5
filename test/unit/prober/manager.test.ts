// ProberManager with a FakeClock and a scripted probe runner: timing, thresholds, startup gating,
// change-only notifications, events and worker replacement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod, Probe } from '../../../kube/api.js';
import { FakeClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/log.js';
import { ProberManager, restartMessage } from '../../../agent/prober/manager.js';
import type { ProbeOutcome, ProbeRunner, ProbeTarget } from '../../../agent/prober/probe.js';
import type { ProbeResult } from '../../../agent/prober/results.js';
import { probeTiming } from '../../../agent/prober/worker.js';

interface Call {
  type: string;
  containerId: string;
  timeoutMs: number;
  at: number;
}

/** A runner whose answers are set per probe kind (exec = liveness, httpGet = readiness, tcpSocket = startup). */
class ScriptedRunner implements ProbeRunner {
  calls: Call[] = [];
  answers: Record<string, ProbeOutcome> = {
    liveness: { result: 'success', output: '' },
    readiness: { result: 'success', output: '' },
    startup: { result: 'success', output: '' },
  };
  constructor(private readonly clock: FakeClock) {}
  async run(probe: Probe, target: ProbeTarget, timeoutMs: number): Promise<ProbeOutcome> {
    const type = probe.exec ? 'liveness' : probe.httpGet ? 'readiness' : 'startup';
    this.calls.push({ type, containerId: target.containerId, timeoutMs, at: this.clock.now() });
    return this.answers[type]!;
  }
  set(type: 'liveness' | 'readiness' | 'startup', result: ProbeResult, output = '') {
    this.answers[type] = { result, output };
  }
  count(type: string, containerId?: string): number {
    return this.calls.filter((c) => c.type === type && (!containerId || c.containerId === containerId)).length;
  }
}

const LIVE: Probe = { exec: { command: ['true'] } };
const READY: Probe = { httpGet: { port: 80, path: '/' } };
const STARTUP: Probe = { tcpSocket: { port: 80 } };

function makePod(c: Partial<Container>, meta: Partial<Pod['metadata']> = {}): Pod {
  return { metadata: { name: 'web', namespace: 'ns', uid: 'u1', ...meta }, spec: { containers: [{ name: 'app', image: 'img', ...c }] } };
}

interface Recorded {
  fieldPath?: string;
  type: string;
  reason: string;
  message: string;
}

function setup(start = 1_700_000_000_000) {
  const clock = new FakeClock(start);
  const runner = new ScriptedRunner(clock);
  const events: Recorded[] = [];
  const mgr = new ProberManager({
    runtime: {}, clock, runner, log: silentLogger(),
    events: { event: (obj, type, reason, message) => events.push({ fieldPath: obj.fieldPath, type, reason, message }) },
  });
  const changes: string[] = [];
  mgr.onChange((uid) => changes.push(uid));
  return { clock, runner, events, mgr, changes };
}

/** Lets the runner's promises and the worker's continuations run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** Advance in 1 s steps so each fired probe completes before the next timer. */
async function advance(clock: FakeClock, ms: number): Promise<void> {
  const settle = async () => {
    for (let i = 0; i < 5; i++) {
      await flush();
      clock.advance(0); // fire timers scheduled for "now" by completed probes
    }
    await flush();
  };
  await settle();
  for (let t = 0; t < ms; t += 1000) {
    clock.advance(Math.min(1000, ms - t));
    await settle();
  }
}

test('probeTiming applies upstream defaults and minimums', () => {
  assert.deepEqual(probeTiming({}, 'readiness'), { initialDelaySeconds: 0, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 });
  const t = probeTiming({ periodSeconds: 0, timeoutSeconds: 0, successThreshold: 3, failureThreshold: 0 }, 'liveness');
  assert.deepEqual(t, { initialDelaySeconds: 0, periodSeconds: 1, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 1 });
  assert.equal(probeTiming({ successThreshold: 3 }, 'readiness').successThreshold, 3);
});

test('no probes: started and ready at once, no workers', () => {
  const { mgr, clock } = setup();
  mgr.syncPod(makePod({}), [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  assert.equal(mgr.workerCount(), 0);
  assert.equal(mgr.isStarted('u1', 'app', 'c1'), true);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), true);
  assert.equal(mgr.livenessFailed('u1', 'app', 'c1'), false);
});

test('readiness starts as failure, probes at once then every period, honours the timeout', async () => {
  const { mgr, clock, runner } = setup();
  mgr.syncPod(makePod({ readinessProbe: { ...READY, periodSeconds: 5, timeoutSeconds: 2 } }), [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), false, 'not ready before the first probe');
  await advance(clock, 0);
  assert.equal(runner.count('readiness'), 1);
  assert.equal(runner.calls[0]!.timeoutMs, 2000);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), true);
  await advance(clock, 12_000);
  assert.equal(runner.count('readiness'), 3, 'probes at 0 s, 5 s, 10 s');
  assert.deepEqual(runner.calls.map((c) => c.at - runner.calls[0]!.at), [0, 5000, 10_000]);
  await mgr.stop();
});

test('initial delay: no probe until initialDelaySeconds after the container started', async () => {
  const { mgr, clock, runner } = setup();
  const started = clock.now();
  mgr.syncPod(makePod({ readinessProbe: { ...READY, initialDelaySeconds: 15, periodSeconds: 10 } }), [{ containerName: 'app', containerId: 'c1', startedAtMs: started }]);
  await advance(clock, 10_000);
  assert.equal(runner.count('readiness'), 0, 'ticks at 0 s and 10 s are inside the delay');
  assert.equal(mgr.isReady('u1', 'app', 'c1'), false);
  await advance(clock, 10_000);
  assert.equal(runner.count('readiness'), 1, 'the 20 s tick probes');
  assert.equal(runner.calls[0]!.at - started, 20_000);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), true);
  await mgr.stop();
});

test('readiness thresholds: failureThreshold failures to flip to not ready, successThreshold successes back', async () => {
  const { mgr, clock, runner, events, changes } = setup();
  mgr.syncPod(makePod({ readinessProbe: { ...READY, periodSeconds: 1, failureThreshold: 3, successThreshold: 2 } }), [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  await advance(clock, 0);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), false, 'one success is below successThreshold 2');
  await advance(clock, 1000);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), true);
  assert.deepEqual(changes, ['u1'], 'one change notification (failure -> success)');

  runner.set('readiness', 'failure', 'HTTP probe failed with statuscode: 404');
  await advance(clock, 2000);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), true, 'two failures are below failureThreshold 3');
  assert.equal(events.length, 2, 'every failed probe is an event');
  await advance(clock, 1000);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), false);
  assert.deepEqual(changes, ['u1', 'u1']);
  await advance(clock, 3000);
  assert.deepEqual(changes, ['u1', 'u1'], 'repeated failures do not notify again');
  assert.deepEqual(events[0], {
    fieldPath: 'spec.containers{app}', type: 'Warning', reason: 'Unhealthy',
    message: 'Readiness probe failed: HTTP probe failed with statuscode: 404',
  });
  const m = mgr.probeMetrics();
  assert.equal(m.find((s) => s.result === 'failed')?.count, 6);
  assert.equal(m.find((s) => s.result === 'successful')?.count, 2);
  assert.equal(m[0]!.probeType, 'Readiness');
  await mgr.stop();
  assert.equal(mgr.probeMetrics().length, 0, 'series deleted with the worker');
});

test('liveness: initial success, failureThreshold failures -> livenessFailed, then on hold until the container changes', async () => {
  const { mgr, clock, runner, events, changes } = setup();
  const pod = makePod({ livenessProbe: { ...LIVE, periodSeconds: 2, failureThreshold: 2 } });
  mgr.syncPod(pod, [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  assert.equal(mgr.livenessFailed('u1', 'app', 'c1'), false);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), true, 'no readiness probe: ready once started');
  runner.set('liveness', 'failure', "cat: can't open '/tmp/healthy': No such file or directory\n");
  await advance(clock, 0);
  assert.equal(mgr.livenessFailed('u1', 'app', 'c1'), false);
  await advance(clock, 2000);
  assert.equal(mgr.livenessFailed('u1', 'app', 'c1'), true);
  assert.equal(mgr.restartMessage('u1', 'app', 'c1'), 'Container app failed liveness probe, will be restarted');
  assert.deepEqual(changes, ['u1']);
  assert.equal(events.at(-1)!.message, "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n");
  const probes = runner.count('liveness');
  await advance(clock, 10_000);
  assert.equal(runner.count('liveness'), probes, 'on hold: no more probes of the failed container');
  assert.equal(mgr.livenessFailed('u1', 'app', 'c1'), true, 'stays failed until the id changes');

  runner.set('liveness', 'success');
  mgr.syncPod(pod, [{ containerName: 'app', containerId: 'c2', startedAtMs: clock.now() }]);
  assert.equal(mgr.livenessFailed('u1', 'app', 'c1'), false, 'old container result dropped');
  assert.equal(mgr.livenessFailed('u1', 'app', 'c2'), false);
  await advance(clock, 4000);
  assert.ok(runner.count('liveness', 'c2') >= 2, 'the new container is probed');
  assert.equal(mgr.workerCount(), 1);
  await mgr.stop();
});

test('startup probe gates liveness and readiness; readiness runs right after startup succeeds', async () => {
  const { mgr, clock, runner } = setup();
  const pod = makePod({
    startupProbe: { ...STARTUP, periodSeconds: 3, failureThreshold: 10 },
    livenessProbe: { ...LIVE, periodSeconds: 10 },
    readinessProbe: { ...READY, periodSeconds: 10 },
  });
  runner.set('startup', 'failure', 'dial tcp 10.0.0.1:80: connect: connection refused');
  mgr.syncPod(pod, [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  assert.equal(mgr.isStarted('u1', 'app', 'c1'), false);
  await advance(clock, 7000);
  assert.equal(runner.count('startup'), 3);
  assert.equal(runner.count('liveness'), 0, 'liveness waits for startup');
  assert.equal(runner.count('readiness'), 0, 'readiness waits for startup');
  assert.equal(mgr.isReady('u1', 'app', 'c1'), false);

  runner.set('startup', 'success');
  await advance(clock, 2000); // startup tick at 9 s
  assert.equal(mgr.isStarted('u1', 'app', 'c1'), true);
  assert.equal(runner.count('readiness'), 1, 'readiness triggered immediately');
  assert.equal(mgr.isReady('u1', 'app', 'c1'), true);
  const startups = runner.count('startup');
  await advance(clock, 12_000);
  assert.equal(runner.count('startup'), startups, 'startup no longer probes once started');
  assert.ok(runner.count('liveness') >= 1, 'liveness runs after startup');
  await mgr.stop();
});

test('startup failure at threshold -> restart message, holds', async () => {
  const { mgr, clock, runner } = setup();
  runner.set('startup', 'failure', 'x');
  mgr.syncPod(makePod({ startupProbe: { ...STARTUP, periodSeconds: 1, failureThreshold: 2 } }), [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  await advance(clock, 1000);
  assert.equal(mgr.startupFailed('u1', 'app', 'c1'), true);
  assert.equal(mgr.restartMessage('u1', 'app', 'c1'), restartMessage('app', 'startup'));
  assert.equal(mgr.isStarted('u1', 'app', 'c1'), false);
  const n = runner.count('startup');
  await advance(clock, 5000);
  assert.equal(runner.count('startup'), n);
  await mgr.stop();
});

test('workers stop when the container is gone; changes during syncPod are not reported; removePod', async () => {
  const { mgr, clock, runner, changes } = setup();
  const pod = makePod({ readinessProbe: { ...READY, periodSeconds: 1 }, livenessProbe: { ...LIVE, periodSeconds: 1 } });
  mgr.syncPod(pod, [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  assert.equal(mgr.workerCount(), 2);
  assert.deepEqual(changes, [], 'initial values set inside syncPod are not notified');
  await advance(clock, 1000);
  assert.deepEqual(changes, ['u1']);
  mgr.syncPod(pod, []);
  assert.equal(mgr.workerCount(), 0);
  const n = runner.calls.length;
  await advance(clock, 5000);
  assert.equal(runner.calls.length, n, 'stopped workers do not probe');

  mgr.syncPod(pod, [{ containerName: 'app', containerId: 'c3', startedAtMs: clock.now() }]);
  await advance(clock, 0);
  assert.equal(mgr.isReady('u1', 'app', 'c3'), true);
  mgr.removePod('u1');
  assert.equal(mgr.workerCount(), 0);
  assert.equal(mgr.isReady('u1', 'app', 'c3'), true, 'unknown pod: no probes known');
  await mgr.stop();
});

test('deletion: liveness and startup stop (never restart a terminating pod); readiness continues', async () => {
  const { mgr, clock, runner } = setup();
  const c = { startupProbe: { ...STARTUP, periodSeconds: 1, failureThreshold: 1 }, livenessProbe: { ...LIVE, periodSeconds: 1 }, readinessProbe: { ...READY, periodSeconds: 1 } };
  runner.set('startup', 'failure');
  mgr.syncPod(makePod(c), [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  await advance(clock, 0);
  assert.equal(mgr.startupFailed('u1', 'app', 'c1'), true);
  mgr.syncPod(makePod(c, { deletionTimestamp: new Date(clock.now()).toISOString() }), [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  assert.equal(mgr.workerCount(), 1);
  assert.equal(mgr.startupFailed('u1', 'app', 'c1'), false);
  assert.equal(mgr.isStarted('u1', 'app', 'c1'), true);
  await advance(clock, 2000);
  assert.ok(runner.count('readiness') >= 1);
  await mgr.stop();
});

test('errored probes keep the old result and emit an "errored" event; unsupported probes are silent', async () => {
  const { mgr, clock, runner, events } = setup();
  runner.answers.readiness = { result: 'unknown', output: 'port http not found' };
  mgr.syncPod(makePod({ readinessProbe: { ...READY, periodSeconds: 1 } }), [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  await advance(clock, 2000);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), false);
  assert.equal(events[0]!.message, 'Readiness probe errored and resulted in unknown state: port http not found');
  runner.answers.readiness = { result: 'unknown', output: 'grpc', unsupported: true };
  const n = events.length;
  await advance(clock, 2000);
  assert.equal(events.length, n);
  runner.answers.readiness = { result: 'success', output: 'moved', warning: true };
  await advance(clock, 1000);
  assert.equal(mgr.isReady('u1', 'app', 'c1'), true);
  assert.equal(events.at(-1)!.reason, 'ProbeWarning');
  await mgr.stop();
});

test('lifecycle: the start signal stops every worker, and stop() waits for the probe in flight', async () => {
  const clock = new FakeClock();
  const pending: (() => void)[] = [];
  const runner: ProbeRunner = {
    run: () => new Promise<ProbeOutcome>((resolve) => { pending.push(() => resolve({ result: 'success', output: '' })); }),
  };
  const mgr = new ProberManager({ runtime: {}, clock, runner, log: silentLogger(), events: { event: () => {} } });
  const ac = new AbortController();
  await mgr.start(ac.signal);
  mgr.syncPod(makePod({ readinessProbe: READY, livenessProbe: LIVE }), [{ containerName: 'app', containerId: 'c1', startedAtMs: clock.now() }]);
  assert.equal(mgr.workerCount(), 2);
  clock.advance(0);
  await flush();
  assert.equal(pending.length, 2, 'liveness and readiness probes in flight');
  let stopped = false;
  const stopping = mgr.stop().then(() => { stopped = true; });
  assert.equal(mgr.workerCount(), 0);
  await flush();
  assert.equal(stopped, false, 'stop waits for the probe in flight');
  pending.shift()!();
  await flush();
  assert.equal(stopped, false, 'one probe is still in flight');
  pending.shift()!();
  await stopping;

  const again = new ProberManager({ runtime: {}, clock, runner, log: silentLogger(), events: { event: () => {} } });
  await again.start(ac.signal);
  again.syncPod(makePod({ readinessProbe: READY }), [{ containerName: 'app', containerId: 'c2', startedAtMs: clock.now() }]);
  assert.equal(again.workerCount(), 1);
  ac.abort();
  assert.equal(again.workerCount(), 0, 'the parent signal stops the workers');
  again.syncPod(makePod({ readinessProbe: READY }), [{ containerName: 'app', containerId: 'c2', startedAtMs: clock.now() }]);
  assert.equal(again.workerCount(), 0, 'no workers after stop');
});
