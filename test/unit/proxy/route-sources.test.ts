// The batched route-source lookup (one `ip -batch` for thousands of Service addresses) answers what
// the per-address one (a connected UDP socket) answers; the cache serves prefetched addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cachedRouteSource, routeSource, routeSources } from '../../../proxy/host.js';

const ips = ['127.0.0.1', '127.0.0.9', ...Array.from({ length: 20 }, (_, i) => `10.96.200.${i + 1}`)];

test('routeSources agrees with routeSource address by address', async () => {
  const batch = await routeSources(ips);
  for (const ip of ips) assert.equal(batch.get(ip), await routeSource(ip), ip);
  assert.equal(batch.get('127.0.0.9'), '127.0.0.1');
});

test('cachedRouteSource.prefetch fills the cache: the calls after it do not look up again', async () => {
  let t = 0;
  const lookup = cachedRouteSource(60_000, () => t);
  await lookup.prefetch!(ips);
  const expected = await routeSources(ips);
  for (const ip of ips) assert.equal(await lookup(ip), expected.get(ip));
  t = 120_000;
  assert.equal(await lookup('127.0.0.9'), '127.0.0.1', 'expired entries are looked up again');
});
