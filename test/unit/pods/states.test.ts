// The pod lifecycle states (agent/pods/states/) over every combination of facts: each step follows a
// declared edge, settle() ends in a stable state, and the state reached matches an independent
// statement of the kubelet's rules (pod_workers.go: sync → terminating → terminated).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EDGES, STATES, settle, transition, type PodFacts, type PodStateName } from '../../../agent/pods/states/index.js';

const KEYS = ['deleting', 'hasInitContainers', 'initDone', 'initFailedForGood', 'allContainersDone', 'nothingRunning'] as const;

/** All 64 combinations of the six facts. */
function* allFacts(): Generator<PodFacts> {
  for (let bits = 0; bits < 1 << KEYS.length; bits++) {
    const f = {} as Record<(typeof KEYS)[number], boolean>;
    KEYS.forEach((k, i) => { f[k] = (bits & (1 << i)) !== 0; });
    yield f;
  }
}

const show = (f: PodFacts) => KEYS.filter((k) => f[k]).join(',') || '(none)';

/** Where a live pod (not yet terminating) must end up, stated from the rules rather than the code:
 * a deleted pod is Terminating until nothing runs, then Terminated; init containers come first and one
 * that failed for good ends the pod; a running pod ends when every container is done for good. */
function expectedFromLive(from: 'Registered' | 'Initializing' | 'Running', f: PodFacts): PodStateName {
  if (f.deleting) return f.nothingRunning ? 'Terminated' : 'Terminating';
  const initPending = f.hasInitContainers && !f.initDone;
  if (from !== 'Running' && initPending) return f.initFailedForGood ? 'Terminated' : 'Initializing';
  return f.allContainersDone ? 'Terminated' : 'Running';
}

test('every single step follows a declared edge, from every state and every combination of facts', () => {
  for (const from of Object.keys(STATES) as PodStateName[]) {
    for (const f of allFacts()) {
      const to = transition(from, f);
      if (to !== from) assert.ok((EDGES[from] as readonly string[]).includes(to), `${from} -> ${to} with ${show(f)}`);
    }
  }
});

test('settle ends in a state that does not move again', () => {
  for (const from of Object.keys(STATES) as PodStateName[]) {
    for (const f of allFacts()) {
      const end = settle(from, f);
      assert.equal(transition(end, f), end, `${from} settles at ${end} with ${show(f)}, which still moves`);
    }
  }
});

test('a live pod settles where the lifecycle rules say', () => {
  for (const from of ['Registered', 'Initializing', 'Running'] as const) {
    for (const f of allFacts()) {
      // Facts the worker cannot produce together: init done yet failed for good; done without init containers.
      if (f.initDone && f.initFailedForGood) continue;
      if (!f.hasInitContainers && (f.initFailedForGood || !f.initDone)) continue;
      assert.equal(settle(from, f), expectedFromLive(from, f), `${from} with ${show(f)}`);
    }
  }
});

test('a terminating pod ends Terminated only once nothing runs, and only a deletion brings a terminated pod back to Terminating', () => {
  for (const f of allFacts()) {
    assert.equal(settle('Terminating', f), f.nothingRunning ? 'Terminated' : 'Terminating', `Terminating with ${show(f)}`);
    assert.equal(settle('Terminated', f), f.deleting && !f.nothingRunning ? 'Terminating' : 'Terminated', `Terminated with ${show(f)}`);
  }
});

test('only Initializing and Running start containers', () => {
  const runs = (Object.keys(STATES) as PodStateName[]).filter((s) => STATES[s].runsContainers);
  assert.deepEqual(runs.sort(), ['Initializing', 'Running']);
});
