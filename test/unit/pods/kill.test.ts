// agent/pods/kill.ts with a recording runtime: termination order (app and ephemeral containers
// together, then sidecars last-declared first), the preStop hook before the stop signal with the
// remaining grace (at least 2 s), and a shortened grace budget cutting a stop in progress short.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WorkerDeps } from '../../../agent/pods/deps.js';
import { GraceBudget, killContainer, killPodContainers } from '../../../agent/pods/kill.js';
import type { KillAction } from '../../../agent/pods/types.js';
import type { Container, Pod } from '../../../kube/api.js';
import { FakeClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/log.js';
import { RecordingSink } from './world.js';

interface Call { op: 'exec' | 'stop'; id: string; grace?: number; cmd?: string[] }

function deps(opts: { hangFirstStop?: boolean } = {}) {
  const calls: Call[] = [];
  const events = new RecordingSink();
  let stops = 0;
  const runtime = {
    async exec(id: string, cmd: string[]) {
      calls.push({ op: 'exec', id, cmd });
      return { exitCode: 0, output: '' };
    },
    stopContainer(id: string, grace: number): Promise<void> {
      calls.push({ op: 'stop', id, grace });
      stops++;
      if (opts.hangFirstStop && stops === 1) return new Promise(() => {}); // a stop that would take the whole grace period
      return new Promise((r) => setImmediate(r));
    },
  };
  const d = { runtime, events, clock: new FakeClock(0), log: silentLogger() } as unknown as WorkerDeps;
  return { d, calls, events };
}

const c = (name: string, extra: Partial<Container> = {}): Container => ({ name, image: 'img', ...extra });
const kill = (name: string, grace = 30): KillAction => ({ id: `id-${name}`, containerName: name, reason: 'Deleting', graceSeconds: grace });

test('termination order: app and ephemeral containers first, then sidecars in reverse declaration order', async () => {
  const pod: Pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: { initContainers: [c('side1', { restartPolicy: 'Always' }), c('init'), c('side2', { restartPolicy: 'Always' })], containers: [c('app1'), c('app2')] },
  };
  (pod.spec as { ephemeralContainers?: Container[] }).ephemeralContainers = [c('dbg')];
  const { d, calls, events } = deps();
  await killPodContainers(d, pod, [kill('side1'), kill('app1'), kill('side2'), kill('dbg'), kill('app2')], undefined, new GraceBudget(30));
  const order = calls.filter((x) => x.op === 'stop').map((x) => x.id);
  assert.deepEqual(order.slice(3), ['id-side2', 'id-side1']);
  assert.deepEqual(new Set(order.slice(0, 3)), new Set(['id-app1', 'id-app2', 'id-dbg']));
  assert.equal(events.count('Killing'), 5);
  assert.ok(events.events.some((e) => e.fieldPath === 'spec.ephemeralContainers{dbg}'));
});

test('preStop runs before the stop signal, which gets the grace period left (at least 2 s)', async () => {
  const pod: Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { containers: [c('app', { lifecycle: { preStop: { exec: { command: ['drain'] } } } })] } };
  const { d, calls } = deps();
  await killContainer(d, pod, kill('app', 30), undefined);
  assert.deepEqual(calls.map((x) => x.op), ['exec', 'stop']);
  assert.equal(calls[1]!.grace, 30);
  const short = deps();
  await killContainer(short.d, pod, kill('app', 1), undefined);
  assert.equal(short.calls.find((x) => x.op === 'stop')!.grace, 2, 'minimumGracePeriodInSeconds');
});

test('a shortened budget cuts a stop in progress short with a second, shorter stop', async () => {
  const pod: Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { containers: [c('app')] } };
  const { d, calls } = deps({ hangFirstStop: true });
  const budget = new GraceBudget(300);
  const done = killContainer(d, pod, kill('app', 300), undefined, budget);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls.map((x) => [x.op, x.grace]), [['stop', 300]]);
  assert.equal(budget.shorten(600), false, 'never grows');
  assert.equal(budget.shorten(1), true);
  await done; // resolved by the second stop: the first would never return
  assert.deepEqual(calls.map((x) => [x.op, x.grace]), [['stop', 300], ['stop', 2]]);
});
