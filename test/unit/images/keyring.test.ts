// Registry credential lookup as upstream credentialprovider keyring_test.go: globbed hosts, ports, path
// prefixes, /v1/ and /v2/ keys, Docker Hub's legacy key, most specific key first, "auth" decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DockerKeyring, parseDockerConfig, secretDockerConfig, urlsMatch } from '../../../agent/images/keyring.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('urlsMatch: globs per host label, equal ports, path prefixes', () => {
  assert.equal(urlsMatch('*.kubernetes.io', 'prefix.kubernetes.io'), true);
  assert.equal(urlsMatch('*.kubernetes.io', 'kubernetes.io'), false, 'label count differs');
  assert.equal(urlsMatch('*.*.kubernetes.io', 'a.b.kubernetes.io'), true);
  assert.equal(urlsMatch('prefix.*.io', 'prefix.kubernetes.io'), true);
  assert.equal(urlsMatch('prefix.kubernetes.*', 'prefix.kubernetes.io'), true);
  assert.equal(urlsMatch('*-good.kubernetes.io', 'prefix-good.kubernetes.io'), true);
  assert.equal(urlsMatch('*-good.kubernetes.io', 'prefix-bad.kubernetes.io'), false);
  assert.equal(urlsMatch('kubernetes.io:5000', 'kubernetes.io:5000/foo'), true);
  assert.equal(urlsMatch('kubernetes.io:5000', 'kubernetes.io/foo'), false);
  assert.equal(urlsMatch('kubernetes.io/foo', 'kubernetes.io/foo/bar'), true);
  assert.equal(urlsMatch('kubernetes.io/foo', 'kubernetes.io/bar'), false);
  assert.equal(urlsMatch('[::1]:5000', '[::1]:5000/repo'), true);
});

test('lookup: most specific key first, legacy and /v2/ keys, Docker Hub fallback', () => {
  const kr = new DockerKeyring().add(parseDockerConfig(JSON.stringify({ auths: {
    'quay.io': { username: 'host', password: 'p' },
    'https://quay.io/v2/coreos': { auth: b64('path:p2') },
    'https://index.docker.io/v1/': { auth: b64('hub:p3'), email: 'a@b' },
    'no-creds.example.com': {},
  } })));
  assert.deepEqual(kr.lookup('quay.io/coreos/etcd').map((a) => a.username), ['path', 'host']);
  assert.deepEqual(kr.lookup('quay.io/other/x').map((a) => a.username), ['host']);
  assert.deepEqual(kr.lookup('docker.io/library/busybox').map((a) => a.username), ['hub']);
  assert.deepEqual(kr.lookup('busybox').map((a) => a.username), ['hub']);
  assert.deepEqual(kr.lookup('registry.k8s.io/pause'), []);
  assert.deepEqual(kr.lookup('no-creds.example.com/x'), [], 'an entry without credentials is ignored');
  assert.equal(kr.lookup('docker.io/x/y')[0]?.email, 'a@b');
});

test('docker configs: config.json and the legacy .dockercfg, from secrets of both types', () => {
  const flat = parseDockerConfig(JSON.stringify({ 'registry.example.com': { username: 'u', password: 'p:with:colons' } }));
  assert.deepEqual(new DockerKeyring().add(flat).lookup('registry.example.com/a')[0], { username: 'u', password: 'p:with:colons', serveraddress: 'registry.example.com' });
  const viaAuth = parseDockerConfig(JSON.stringify({ auths: { 'r.example.com': { auth: b64('me:a:b') } } }));
  assert.equal(new DockerKeyring().add(viaAuth).lookup('r.example.com/x')[0]?.password, 'a:b');
  assert.throws(() => parseDockerConfig('[1]'));
  const cfg = JSON.stringify({ auths: {} });
  assert.equal(secretDockerConfig({ metadata: {}, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': b64(cfg) } }), cfg);
  assert.equal(secretDockerConfig({ metadata: {}, type: 'kubernetes.io/dockercfg', data: { '.dockercfg': b64('{}') } }), '{}');
  assert.equal(secretDockerConfig({ metadata: {}, type: 'Opaque', data: { other: b64('x') } }), undefined);
});
