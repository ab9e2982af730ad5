// The grace period of a kill for a failed probe, as upstream setTerminationGracePeriod/killContainer:
// the probe's own terminationGracePeriodSeconds for the probe that failed, else the pod's; at least 2 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../../../kube/api.js';
import { probeKillGraceSeconds } from '../../../agent/prober/manager.js';

const container: Container = {
  name: 'app',
  livenessProbe: { httpGet: { port: 8080 }, terminationGracePeriodSeconds: 7 },
  startupProbe: { exec: { command: ['/bin/false'] }, terminationGracePeriodSeconds: 5 },
};
const pod = (spec: Partial<Pod['spec']> = {}, deletion?: number): Pod => ({
  metadata: { name: 'p', namespace: 'ns', uid: 'u', ...(deletion !== undefined ? { deletionGracePeriodSeconds: deletion } : {}) },
  spec: { containers: [container], ...spec },
});

test('a startup-probe kill uses the startup probe grace, not the liveness one nor the pod one', () => {
  assert.equal(probeKillGraceSeconds(pod({ terminationGracePeriodSeconds: 500 }), container, 'startup'), 5);
  assert.equal(probeKillGraceSeconds(pod({ terminationGracePeriodSeconds: 500 }), container, 'liveness'), 7);
});

test('without a probe-level grace: the deletion grace, else the pod grace (30 by default); never below 2 s', () => {
  const plain: Container = { name: 'app', livenessProbe: { httpGet: { port: 8080 } } };
  assert.equal(probeKillGraceSeconds(pod({ terminationGracePeriodSeconds: 500 }), plain, 'liveness'), 500);
  assert.equal(probeKillGraceSeconds(pod({ terminationGracePeriodSeconds: 500 }, 12), plain, 'liveness'), 12);
  assert.equal(probeKillGraceSeconds(pod(), plain, 'startup'), 30);
  assert.equal(probeKillGraceSeconds(pod({ terminationGracePeriodSeconds: 0 }), plain, 'liveness'), 2);
  assert.equal(probeKillGraceSeconds(pod(), { ...container, startupProbe: { exec: { command: ['x'] }, terminationGracePeriodSeconds: 1 } }, 'startup'), 2);
});
