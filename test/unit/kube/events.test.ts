import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { CoreEvent } from '../../../kube/api.js';
import { FakeClock } from '../../../lib/clock.js';
import { createLogger, silentLogger } from '../../../lib/log.js';
import { EventRecorder, eventName } from '../../../kube/events.js';
import { FakeKube, settle } from '../node/fake-kube.js';

const POD = { kind: 'Pod', namespace: 'ns1', name: 'web-0', uid: 'pod-uid', apiVersion: 'v1', fieldPath: 'spec.containers{app}' };

function capture() {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'info', destination: dest }) };
}

test('eventName is <name>.<hex nanos>', () => {
  assert.equal(eventName('web-0', 1_700_000_000_000), `web-0.${(1_700_000_000_000n * 1_000_000n).toString(16)}`);
  assert.notEqual(eventName('a', 5, 0), eventName('a', 5, 1));
});

test('standalone (no client): events are only logged as JSON lines', async () => {
  const { lines, log } = capture();
  const rec = new EventRecorder({ component: 'kubelet', host: 'node-a', log });
  const ac = new AbortController();
  await rec.start(ac.signal);
  rec.event(POD, 'Warning', 'BackOff', 'Back-off restarting failed container');
  await rec.flush();
  assert.equal(rec.pending(), 0);
  const e = lines.find((l) => l.msg === 'event')?.event as Record<string, unknown> | undefined;
  assert.equal(e?.reason, 'BackOff');
  assert.equal(e?.type, 'Warning');
  assert.deepEqual(e?.object, { kind: 'Pod', namespace: 'ns1', name: 'web-0', fieldPath: 'spec.containers{app}' });
  ac.abort();
  await rec.stop();
});

test('with an API server, Normal events are logged at debug and Warnings at info (the kubelet logs them at verbosity 3)', async () => {
  const { lines, log } = capture();
  const rec = new EventRecorder({ client: new FakeKube(), component: 'kubelet', host: 'node-a', log });
  const ac = new AbortController();
  await rec.start(ac.signal);
  rec.event(POD, 'Normal', 'Started', 'Started container app');
  rec.event(POD, 'Warning', 'BackOff', 'Back-off restarting failed container');
  await rec.flush();
  assert.deepEqual(lines.filter((l) => l.msg === 'event').map((l) => (l.event as { reason: string }).reason), ['BackOff']);
  ac.abort();
  await rec.stop();
});

test('writes a core/v1 Event, aggregates repeats with a PATCH, new message → new Event', async () => {
  const kube = new FakeKube();
  const clock = new FakeClock();
  const rec = new EventRecorder({ client: kube, component: 'kubelet', host: 'node-a', clock, log: silentLogger() });
  const ac = new AbortController();
  await rec.start(ac.signal);
  try {
    rec.event(POD, 'Normal', 'Pulled', 'Container image "x" already present on machine');
    await rec.flush();
    const post = kube.callsOf('POST')[0];
    assert.equal(post?.path, '/api/v1/namespaces/ns1/events');
    const ev = post?.body as CoreEvent;
    assert.equal(ev.metadata.name, eventName('web-0', clock.now(), 0));
    assert.equal(ev.metadata.namespace, 'ns1');
    assert.deepEqual(ev.involvedObject, { kind: 'Pod', name: 'web-0', namespace: 'ns1', uid: 'pod-uid', apiVersion: 'v1', fieldPath: 'spec.containers{app}' });
    assert.deepEqual(ev.source, { component: 'kubelet', host: 'node-a' });
    assert.equal(ev.reportingComponent, 'kubelet');
    assert.equal(ev.reportingInstance, 'node-a');
    assert.equal(ev.count, 1);
    assert.equal(ev.type, 'Normal');
    assert.equal(ev.firstTimestamp, ev.lastTimestamp);

    clock.advance(30_000);
    rec.event(POD, 'Normal', 'Pulled', 'Container image "x" already present on machine');
    await rec.flush();
    const patch = kube.callsOf('PATCH')[0];
    assert.equal(patch?.path, `/api/v1/namespaces/ns1/events/${ev.metadata.name}`);
    assert.equal(patch?.patchType, 'strategic');
    assert.equal((patch?.body as { count: number }).count, 2);
    const stored = kube.objects.get(`/api/v1/namespaces/ns1/events/${ev.metadata.name}`) as CoreEvent;
    assert.equal(stored.count, 2);
    assert.notEqual(stored.lastTimestamp, stored.firstTimestamp);

    rec.event(POD, 'Normal', 'Pulled', 'a different message');
    await rec.flush();
    assert.equal(kube.callsOf('POST').length, 2);

    clock.advance(11 * 60_000);
    rec.event(POD, 'Normal', 'Pulled', 'Container image "x" already present on machine');
    await rec.flush();
    assert.equal(kube.callsOf('POST').length, 3, 'outside the 10 min window a new Event is created');
  } finally {
    ac.abort();
    await rec.stop();
  }
});

test('cluster-scoped objects go to "default"; an expired Event is recreated with its count', async () => {
  const kube = new FakeKube();
  const clock = new FakeClock();
  const rec = new EventRecorder({ client: kube, component: 'kubelet', host: 'node-a', clock, log: silentLogger() });
  const ac = new AbortController();
  await rec.start(ac.signal);
  try {
    const node = { kind: 'Node', name: 'node-a', uid: 'node-a', namespace: '' };
    rec.event(node, 'Normal', 'NodeReady', 'Node node-a status is now: NodeReady');
    await rec.flush();
    const ev = kube.callsOf('POST')[0]?.body as CoreEvent;
    assert.equal(kube.callsOf('POST')[0]?.path, '/api/v1/namespaces/default/events');
    assert.equal(ev.involvedObject.namespace, undefined);
    kube.objects.clear();
    rec.event(node, 'Normal', 'NodeReady', 'Node node-a status is now: NodeReady');
    await rec.flush();
    const again = kube.callsOf('POST')[1]?.body as CoreEvent;
    assert.equal(again.metadata.name, ev.metadata.name);
    assert.equal(again.count, 2);
  } finally {
    ac.abort();
    await rec.stop();
  }
});

test('transient failures are retried; the queue is bounded and drops the oldest', async () => {
  const kube = new FakeKube();
  const clock = new FakeClock();
  const { lines, log } = capture();
  const rec = new EventRecorder({ client: kube, host: 'node-a', clock, log, maxQueue: 3 });
  for (let i = 0; i < 5; i++) rec.event(POD, 'Normal', `R${i}`, 'm');
  assert.equal(rec.pending(), 3);
  assert.equal(rec.dropped(), 2);
  assert.equal(lines.filter((l) => l.msg === 'event queue full; dropped the oldest event').length, 2);

  kube.fail('POST', /events$/, 503, 'ServiceUnavailable', 1);
  const ac = new AbortController();
  await rec.start(ac.signal);
  try {
    await settle();
    assert.equal(kube.callsOf('POST').length, 1);
    clock.advance(500);
    await rec.flush();
    assert.deepEqual(
      kube.callsOf('POST').map((c) => (c.body as CoreEvent | undefined)?.reason),
      ['R2', 'R2', 'R3', 'R4'],
    );
  } finally {
    ac.abort();
    await rec.stop();
  }
  // After stop, events are only logged.
  rec.event(POD, 'Normal', 'Late', 'm');
  assert.equal(rec.pending(), 0);
});
