import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyConfig } from '../../../proxy/config.js';
import { configzView } from '../../../proxy/status-server.js';

test('configz: the effective config in KubeProxyConfiguration field names; defaults as upstream (no idle reset, connections kept)', () => {
  const cfg = parseProxyConfig({ nodeName: 'n1' });
  assert.equal(cfg.tcpIdleTimeoutMs, 0);
  assert.equal(cfg.closeRemovedEndpointConnections, false);
  assert.equal(cfg.dataPath, 'native');
  const v = configzView(cfg);
  assert.equal(v.mode, 'userspace');
  assert.equal(v.hostnameOverride, 'n1');
  assert.equal(v.healthzBindAddress, '0.0.0.0:10256');
  assert.equal(v.metricsBindAddress, '127.0.0.1:10249');
  assert.deepEqual(v.iptables, { syncPeriod: '30s', minSyncPeriod: '1s' });
  assert.equal(v.udpIdleTimeout, '250ms');
});

test('config: a loopback bindAddress with iptables is refused (upstream ErrProxyOnLocalhost); old data paths are refused by name', () => {
  assert.throws(() => parseProxyConfig({ nodeName: 'n1', bindAddress: '127.0.0.1' }), /bindAddress: 127\.0\.0\.1 is a loopback address/);
  assert.equal(parseProxyConfig({ nodeName: 'n1', bindAddress: '127.0.0.1', iptables: false }).bindAddress, '127.0.0.1');
  assert.throws(() => parseProxyConfig({ nodeName: 'n1', dataPath: 'raw' }), /dataPath/);
});
