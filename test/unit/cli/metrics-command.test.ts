import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetricsFlags } from '../../../cli/metrics-command.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';
import { silentLogger } from '../../../lib/log.js';

test('dockerlet metrics flags map to the standalone options, as cAdvisor names them', () => {
  const o = parseMetricsFlags(['--port', '9100', '--housekeeping-interval', '1.5s', '--container-labels', 'app,tier', '--no-fds'], silentLogger());
  assert.deepEqual([o.port, o.housekeepingMs, o.containerLabels, o.countFds, o.timestamps], [9100, 1500, ['app', 'tier'], false, undefined]);
  assert.equal(parseMetricsFlags(['--housekeeping-interval', '250ms'], silentLogger()).housekeepingMs, 250);
  assert.equal(parseMetricsFlags(['--container-labels', 'none'], silentLogger()).containerLabels, 'none');
  for (const bad of [['--port', 'x'], ['--housekeeping-interval', '5x'], ['--what']]) {
    assert.throws(() => parseMetricsFlags(bad, silentLogger()), (err: Error) => isCode(err, ErrorCodes.CONFIG_INVALID));
  }
});
