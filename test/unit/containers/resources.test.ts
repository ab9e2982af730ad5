import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Container } from '../../../kube/api.js';
import { containerResources, milliCpuToQuota, milliCpuToShares } from '../../../agent/containers/resources.js';

const c = (resources?: Container['resources']): Container => ({ name: 'c', image: 'x', resources });

test('cpu shares from the request', () => {
  assert.deepEqual(containerResources(c()), { cpuShares: 2 });
  assert.equal(containerResources(c({ requests: { cpu: '100m' } })).cpuShares, 102);
  assert.equal(containerResources(c({ requests: { cpu: '1' } })).cpuShares, 1024);
  assert.equal(containerResources(c({ requests: { cpu: '1m' } })).cpuShares, 2);
  assert.equal(milliCpuToShares(10_000_000), 262144);
});

test('a cpu limit without a request counts as the request', () => {
  const r = containerResources(c({ limits: { cpu: '500m' } }));
  assert.deepEqual(r, { cpuShares: 512, cpuPeriod: 100000, cpuQuota: 50000 });
  // an explicit request (even 0) wins
  assert.equal(containerResources(c({ limits: { cpu: '500m' }, requests: { cpu: '0' } })).cpuShares, 2);
});

test('cpu quota from the limit, at least 1000 µs', () => {
  assert.equal(containerResources(c({ limits: { cpu: '1m' } })).cpuQuota, 1000);
  assert.equal(containerResources(c({ limits: { cpu: '2' } })).cpuQuota, 200000);
  assert.equal(containerResources(c({ limits: { cpu: '250m' } })).cpuQuota, 25000);
  assert.equal(milliCpuToQuota(0), 0);
});

test('memory limit in bytes', () => {
  assert.equal(containerResources(c({ limits: { memory: '128Mi' } })).memoryLimitBytes, 134217728);
  assert.equal(containerResources(c({ limits: { memory: '1G' } })).memoryLimitBytes, 1e9);
  assert.equal(containerResources(c({ requests: { memory: '1G' } })).memoryLimitBytes, undefined);
});
