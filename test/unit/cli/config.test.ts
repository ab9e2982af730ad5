import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configFromEnv, mergeConfig, validateConfig } from '../../../cli/config.js';
import { parseFlags } from '../../../cli/flags.js';
import { ErrorCodes, isCode } from '../../../lib/errors.js';

test('defaults follow the kubelet and the config is frozen', () => {
  const c = validateConfig({ nodeName: 'n1' }, 'config');
  assert.equal(c.maxPods, 110);
  assert.equal(c.port, 10250);
  assert.equal(c.podInfraContainerImage, 'registry.k8s.io/pause:3.10');
  assert.equal(c.proxy.healthzPort, 10256);
  assert.equal(c.proxy.metricsPort, 10249);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.proxy));
});

test('flags override the environment, which overrides the file', () => {
  const file = { nodeName: 'from-file', maxPods: 20, proxy: { healthzPort: 1 } };
  const env = configFromEnv({ DOCKERLET_NODE_NAME: 'from-env' });
  const flags = parseFlags(['agent', '--max-pods', '30', '--node-labels', 'a=b,c=d', '--register-with-taints', 'k=v:NoSchedule', '--with-proxy']);
  const c = validateConfig(mergeConfig(file, env, flags.layer), 'config');
  assert.equal(flags.command, 'agent');
  assert.equal(c.nodeName, 'from-env');
  assert.equal(c.maxPods, 30);
  assert.deepEqual(c.nodeLabels, { a: 'b', c: 'd' });
  assert.deepEqual(c.registerWithTaints, [{ key: 'k', value: 'v', effect: 'NoSchedule' }]);
  const { enabled, healthzPort, metricsPort, iptables, dataPath, podBridgeInterface } = c.proxy;
  assert.deepEqual({ enabled, healthzPort, metricsPort, iptables, dataPath, podBridgeInterface }, { enabled: true, healthzPort: 1, metricsPort: 10249, iptables: true, dataPath: 'native', podBridgeInterface: 'docker0' });
  const p = validateConfig(mergeConfig({}, {}, parseFlags(['proxy', '--proxy-data-path', 'pump']).layer), 'config').proxy;
  assert.equal(p.dataPath, 'pump');
  assert.equal(validateConfig(mergeConfig({}, {}, parseFlags(['proxy', '--pod-bridge-interface', '']).layer), 'config').proxy.podBridgeInterface, '');
  assert.throws(() => validateConfig(mergeConfig({}, {}, parseFlags(['proxy', '--pod-bridge-interface', 'bad name']).layer), 'config'), /proxy\.podBridgeInterface: an interface name/);
});

test('kubelet server flags land in nested sections that merge with the file key by key', () => {
  const file = { authentication: { x509: { clientCAFile: '/file/ca.crt' }, webhook: { enabled: false } }, nodeLabels: { a: 'file' } };
  const flags = parseFlags(['agent', '--anonymous-auth=true', '--authorization-mode', 'AlwaysAllow', '--node-labels', 'b=flag']);
  const merged = mergeConfig(file, {}, flags.layer);
  assert.deepEqual(merged.authentication, { x509: { clientCAFile: '/file/ca.crt' }, webhook: { enabled: false }, anonymous: { enabled: true } });
  assert.deepEqual(merged.authorization, { mode: 'AlwaysAllow' });
  assert.deepEqual(merged.nodeLabels, { b: 'flag' }, 'node labels are replaced, not merged, as the kubelet');
  assert.equal(parseFlags(['agent']).layer.authentication, undefined, 'no flag, no section');
  assert.throws(() => parseFlags(['agent', '--anonymous-auth=maybe']), /--anonymous-auth: expected true or false/);
});

test('a bad setting is one error naming the source and the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ maxPods: 'many' }, /^config \/etc\/d\.yaml: maxPods: /],
    [{ podWorkerz: 3 }, /^config \/etc\/d\.yaml: podWorkerz: unknown field \(did you mean "podWorkers"\?\)$/],
    [{ proxy: { healthzPort: 70000 } }, /^config \/etc\/d\.yaml: proxy\.healthzPort: /],
    [{ nodeName: 'Bad_Name' }, /^config \/etc\/d\.yaml: nodeName: must be a lowercase RFC 1123 name$/],
    [{ proxy: { maxConnectionsPerListener: 0 } }, /^config \/etc\/d\.yaml: proxy\.maxConnectionsPerListener: /],
    [{ proxy: { dataPath: 'splice' } }, /^config \/etc\/d\.yaml: proxy\.dataPath: /],
  ];
  for (const [raw, re] of cases) {
    assert.throws(() => validateConfig(raw, 'config /etc/d.yaml'), (err: Error) => isCode(err, ErrorCodes.CONFIG_INVALID) && re.test(err.message) && !err.message.includes('\n'));
  }
  assert.throws(() => parseFlags(['agent', '--no-such-flag']), (err: Error) => isCode(err, ErrorCodes.CONFIG_INVALID));
  assert.throws(() => parseFlags(['agent', '--register-with-taints', 'nope']), /expected key\[=value\]:Effect/);
});

test('a config file error names the file, the line and the field, and suggests the nearest known name', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { readConfigFile } = await import('../../../cli/config.js');
  const dir = mkdtempSync(join(tmpdir(), 'dockerlet-cfg-'));
  const check = (name: string, text: string, re: RegExp) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    const file = readConfigFile(path);
    assert.throws(() => validateConfig(file.data, `config ${path}`, file), (err: Error) => isCode(err, ErrorCodes.CONFIG_INVALID) && re.test(err.message) && err.message.startsWith(`config ${path}:`));
  };
  check('typo.yaml', 'nodeName: n1\nmaxPod: 3\n', /:2: maxPod: unknown field \(did you mean "maxPods"\?\)$/);
  check('nested.yaml', 'nodeName: n1\nproxy:\n  iptables: true\n  healthzport: 5\n', /:4: proxy\.healthzport: unknown field \(did you mean "proxy\.healthzPort"\?\)$/);
  check('value.yaml', 'nodeName: n1\n\nmaxPods: -3\n', /:3: maxPods: /);
  check('far.yaml', 'nodeName: n1\nzzzzzzzz: 1\n', /:2: zzzzzzzz: unknown field$/);
  assert.throws(() => readConfigFile(join(dir, 'missing.yaml')), /cannot read/);
  writeFileSync(join(dir, 'broken.yaml'), 'nodeName: n1\n  bad: [\n');
  assert.throws(() => readConfigFile(join(dir, 'broken.yaml')), (err: Error) => isCode(err, ErrorCodes.CONFIG_INVALID) && /broken\.yaml:\d+: /.test(err.message));
});
