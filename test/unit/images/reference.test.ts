// The image reference parser against distribution/reference's grammar and test table (reference_test.go,
// normalize_test.go): registries with ports and IPv6 literals, sha256/384/512 digests, tag + digest,
// lowercase names, the 255-character limit, bare identifiers, and the docker.io normalisation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidImageRef, normalizedReference, parseImageReference, repositoryOf } from '../../../agent/images/reference.js';

const h = (n: number, c = 'f') => c.repeat(n);

test('valid references (distribution reference_test.go)', () => {
  const valid = [
    'test_com', 'test.com:tag', 'test.com:5000', 'test.com/repo:tag', 'test:5000/repo', 'test:5000/repo:tag',
    `test:5000/repo@sha256:${h(64)}`, `test:5000/repo:tag@sha256:${h(64)}`, 'lowercase:Uppercase',
    'sub-dom1.foo.com/bar/baz/quux', 'sub-dom1.foo.com/bar/baz/quux:some-long-tag',
    'b.gcr.io/test.example.com/my-app:test.example.com', 'xn--n3h.com/myimage:xn--n3h.com',
    `xn--7o8h.com/myimage:xn--7o8h.com@sha512:${h(128)}`, 'foo_bar.com:8080', 'foo/foo_bar.com:8080',
    '[2001:db8::1]/repo', '[2001:db8:1:2:3:4:5:6]/repo:tag', '[2001:db8::1]:5000/repo', '[2001:db8::1]:5000/repo:tag',
    `[2001:db8::1]:5000/repo@sha256:${h(64)}`, `[2001:db8::1]:5000/repo:tag@sha256:${h(64)}`, '[2001:db8::]:5000/repo', '[::1]:5000/repo',
    `registry.k8s.io/pause@sha384:${h(96, 'a')}`, 'a__b/c--d/e.f_g', 'localhost/foo', 'localhost:5000/foo:bar', 'Registry.Example.COM/foo',
    `${'a'.repeat(127)}/${'b'.repeat(127)}:${'t'.repeat(128)}`,
  ];
  for (const ref of valid) assert.equal(isValidImageRef(ref), true, ref);
});

test('invalid references are refused with distribution\'s reasons', () => {
  const invalid: [string, RegExp][] = [
    ['', /at least one component/],
    [':justtag', /invalid reference format/],
    [`@sha256:${h(64)}`, /invalid reference format/],
    [`repo@sha256:${h(34)}`, /invalid checksum digest format/],
    [`validname@invaliddigest:${h(64)}`, /unsupported digest algorithm/],
    [`repo@sha256:${h(64, 'F')}`, /invalid checksum digest format/],
    [`repo@sha512:${h(64)}`, /invalid checksum digest format/],
    ['Uppercase:tag', /must be lowercase/],
    ['test:5000/Uppercase/lowercase:tag', /must be lowercase/],
    ['aa/asdf$$^/aa', /invalid reference format/],
    ['[2001:db8::1]', /invalid reference format/],
    ['[2001:db8::1]:5000', /invalid reference format/],
    ['[2001:db8::1]:tag', /invalid reference format/],
    ['[fe80::1%eth0]:5000/repo', /invalid reference format/],
    ['repo:-tag', /invalid reference format/],
    [`repo:${'t'.repeat(129)}`, /invalid reference format/],
    ['a-/b', /invalid reference format/],
    ['a..b/c', /invalid reference format/],
    [h(64, 'a'), /cannot specify 64-byte hexadecimal strings/],
    [`${'a'.repeat(128)}/${'b'.repeat(127)}`, /not be more than 255 characters/],
  ];
  for (const [ref, why] of invalid) {
    assert.equal(isValidImageRef(ref), false, ref);
    assert.throws(() => parseImageReference(ref), why, ref);
  }
});

test('normalisation: docker.io and library/, :latest only without tag and digest, registries kept', () => {
  const n = (ref: string) => normalizedReference(parseImageReference(ref));
  assert.equal(n('busybox'), 'docker.io/library/busybox:latest');
  assert.equal(n('index.docker.io/busybox:1.36'), 'docker.io/library/busybox:1.36');
  assert.equal(n('dockerlet/busybox:1.36'), 'docker.io/dockerlet/busybox:1.36');
  assert.equal(n(`[2001:db8::1]:5000/repo@sha512:${h(128)}`), `[2001:db8::1]:5000/repo@sha512:${h(128)}`);
  assert.equal(n(`127.0.0.1:5038/a/b:t@sha256:${h(64)}`), `127.0.0.1:5038/a/b:t@sha256:${h(64)}`);
  assert.equal(repositoryOf(parseImageReference('localhost/foo:1')), 'localhost/foo');
  assert.deepEqual(parseImageReference('registry.k8s.io/pause:3.10'), { domain: 'registry.k8s.io', path: 'pause', tag: '3.10' });
});
