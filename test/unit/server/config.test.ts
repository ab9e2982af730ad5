// The kubelet API server's settings: KubeletConfiguration defaults when paired, the standalone rule
// (loopback, AlwaysAllow, no token webhook), errors naming the field, and the kubelet flag names.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveServerConfig } from '../../../agent/server/config.js';
import { mergeConfig, validateConfig } from '../../../cli/config.js';
import { parseFlags } from '../../../cli/flags.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';

const cfg = (raw: Record<string, unknown> = {}) => validateConfig({ nodeName: 'n1', ...raw }, 'config');

test('paired defaults follow the kubelet config file: 0.0.0.0, Webhook authn+authz, anonymous off, read-only port off', () => {
  const e = effectiveServerConfig(cfg(), true);
  assert.deepEqual(e, {
    address: '0.0.0.0', readOnlyPort: 0, serverTLSBootstrap: false, webhook: true, anonymous: false, authorization: 'Webhook',
    tokenCacheTtlMs: 120_000, authorizedTtlMs: 300_000, unauthorizedTtlMs: 30_000,
  });
  assert.equal(cfg().port, 10250);
});

test('standalone serves loopback with AlwaysAllow; asking for a webhook without a kubeconfig is an error', () => {
  const e = effectiveServerConfig(cfg(), false);
  assert.deepEqual([e.address, e.authorization, e.webhook], ['127.0.0.1', 'AlwaysAllow', false]);
  assert.throws(() => effectiveServerConfig(cfg({ authorization: { mode: 'Webhook' } }), false), (err) => isCode(err, ErrorCodes.CONFIG_INVALID) && /authorization\.mode/.test((err as Error).message));
  assert.throws(() => effectiveServerConfig(cfg({ authentication: { webhook: { enabled: true } } }), false), /authentication\.webhook\.enabled/);
  assert.throws(() => effectiveServerConfig(cfg({ tlsCertFile: '/x.crt' }), true), /tlsCertFile and tlsPrivateKeyFile/);
});

test('bad values name the field', () => {
  assert.throws(() => cfg({ address: 'nowhere' }), (err) => isCode(err, ErrorCodes.CONFIG_INVALID) && /address/.test((err as Error).message));
  assert.throws(() => cfg({ authorization: { mode: 'RBAC' } }), /authorization\.mode/);
  assert.throws(() => cfg({ authentication: { anonymus: {} } }), /authentication\.anonymus: unknown field/);
});

test('kubelet flags land in the nested sections and merge with the file', () => {
  const flags = parseFlags(['agent', '--address', '10.0.0.5', '--read-only-port', '10255', '--tls-cert-file', '/c', '--tls-private-key-file', '/k',
    '--client-ca-file', '/ca.crt', '--anonymous-auth=true', '--authorization-mode', 'AlwaysAllow']);
  const c = validateConfig(mergeConfig({ nodeName: 'n1', authentication: { webhook: { cacheTTLSeconds: 30 } } }, flags.layer), 'config');
  const e = effectiveServerConfig(c, true);
  assert.deepEqual(e, {
    address: '10.0.0.5', readOnlyPort: 10255, tlsCertFile: '/c', tlsPrivateKeyFile: '/k', clientCAFile: '/ca.crt',
    serverTLSBootstrap: false, webhook: true, anonymous: true, authorization: 'AlwaysAllow', tokenCacheTtlMs: 30_000, authorizedTtlMs: 300_000, unauthorizedTtlMs: 30_000,
  });
});
