// cAdvisor's label flags on `dockerlet metrics`: --store_container_labels=false with an optional
// --whitelisted_container_labels list, as cmd/cadvisor.go reads them; mixing them with
// --container-labels is a config error naming the flag.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetricsFlags } from '../../../cli/metrics-command.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';

const labels = (args: string[]) => parseMetricsFlags(args, silentLogger()).containerLabels;

test('cAdvisor label flags map onto the container label choice', () => {
  assert.equal(labels([]), undefined, 'default: every label, as cAdvisor');
  assert.equal(labels(['--store_container_labels=false']), 'none');
  assert.deepEqual(labels(['--store_container_labels=false', '--whitelisted_container_labels=io.kubernetes.pod.name, app']), ['io.kubernetes.pod.name', 'app']);
  assert.equal(labels(['--store_container_labels=true', '--whitelisted_container_labels=app']), 'all', 'the whitelist only applies when storing is off');
  assert.deepEqual(labels(['--container-labels', 'a,b']), ['a', 'b']);
  for (const bad of [['--store_container_labels=maybe'], ['--container-labels', 'all', '--store_container_labels=false']]) {
    assert.throws(() => parseMetricsFlags(bad, silentLogger()), (err: Error) => isCode(err, ErrorCodes.CONFIG_INVALID) && /--(store_container_labels|container-labels)/.test(err.message));
  }
});
