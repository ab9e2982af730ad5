// kubelet_running_pods counts pods with a running sandbox; kubelet_running_containers{container_state="running"}
// counts their running containers without the sandboxes; plain Docker containers count in neither.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runningContainers, runningPods } from '../../../metrics/agent-metrics.js';
import type { Snapshot } from '../../../metrics/types.js';
import { snapshot } from './snapshot.js';

test('running pods need a sandbox; running containers skip sandboxes and non-pod containers', () => {
  const s = snapshot();
  assert.equal(runningPods(s), 1);
  assert.equal(runningContainers(s), 1);
  const noSandbox: Snapshot = { ...s, containers: s.containers.filter((c) => !c.meta?.pod?.sandbox) };
  assert.equal(runningPods(noSandbox), 0, 'a pod whose sandbox is not running is not a running pod');
  assert.equal(runningContainers(noSandbox), 1);
  assert.equal(runningPods(undefined), 0);
  assert.equal(runningContainers(undefined), 0);
});
