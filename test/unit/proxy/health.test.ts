import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../lib/clock.js';
import { healthServer, ProxyHealth } from '../../../proxy/health.js';

test('healthy until a queued update waits longer than the timeout', () => {
  const clock = new FakeClock();
  const h = new ProxyHealth({ healthTimeoutMs: 60_000, clock });
  assert.equal(h.isHealthy(), true);
  h.queuedUpdate();
  clock.advance(59_000);
  h.queuedUpdate(); // keeps the oldest
  assert.equal(h.isHealthy(), true);
  clock.advance(1_000);
  assert.equal(h.isHealthy(), false);
  h.updated();
  assert.equal(h.isHealthy(), true);
  assert.equal(h.lastUpdated(), clock.now());
});

test('serves /healthz and /livez JSON with 200/503', async () => {
  const clock = new FakeClock();
  const h = new ProxyHealth({ healthTimeoutMs: 1_000, clock });
  const srv = healthServer(h, { host: '127.0.0.1', port: 0, nodeEligible: () => true });
  const port = await srv.start();
  try {
    h.updated();
    let r = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(r.status, 200);
    const body = await r.json() as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['currentTime', 'lastUpdated', 'nodeEligible']);
    assert.equal(body.lastUpdated, new Date(clock.now()).toISOString());
    h.queuedUpdate();
    clock.advance(2_000);
    r = await fetch(`http://127.0.0.1:${port}/livez`);
    assert.equal(r.status, 503);
    assert.equal('nodeEligible' in (await r.json() as object), false);
    assert.equal((await fetch(`http://127.0.0.1:${port}/nope`)).status, 404);
    assert.equal(h.served.get('livez:503'), 1);
  } finally {
    await srv.stop();
  }
});
