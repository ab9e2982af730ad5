// The relay's thread count in the proxy config: validated once at the edge (a clear error naming the
// field), defaulting to one thread per core up to 4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { parseProxyConfig } from '../../../proxy/config.js';
import { defaultRelayThreads } from '../../../proxy/native/engine.js';

test('relayThreads defaults to one per core, at most 4; 1..64 accepted', () => {
  assert.equal(defaultRelayThreads(), Math.min(availableParallelism(), 4));
  assert.equal(parseProxyConfig({ nodeName: 'n1' }).relayThreads, defaultRelayThreads());
  assert.equal(parseProxyConfig({ nodeName: 'n1', relayThreads: 1 }).relayThreads, 1);
  assert.equal(parseProxyConfig({ nodeName: 'n1', relayThreads: 64 }).relayThreads, 64);
});

test('a bad relayThreads is a config error naming the field', () => {
  for (const bad of [0, -1, 2.5, 65, '2']) {
    assert.throws(() => parseProxyConfig({ nodeName: 'n1', relayThreads: bad }), /invalid proxy config: relayThreads: /, String(bad));
  }
});
