// The scrape bodies: formatted once per snapshot, gzipped once when the client accepts gzip, prebuilt
// after a housekeeping only while someone scrapes; served by fastify with Content-Encoding and Vary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { acceptsGzip, BodyCache, sendBody } from '../../../metrics/format/body.js';
import { formatCadvisor } from '../../../metrics/format/cadvisor.js';
import type { Snapshot } from '../../../metrics/types.js';
import { snapshot } from './snapshot.js';

test('acceptsGzip reads Accept-Encoding as Prometheus, curl and browsers send it', () => {
  assert.equal(acceptsGzip('gzip'), true);
  assert.equal(acceptsGzip('deflate, gzip;q=0.8'), true);
  assert.equal(acceptsGzip('br, *'), true);
  assert.equal(acceptsGzip('GZIP'), true);
  assert.equal(acceptsGzip('gzip;q=0'), false);
  assert.equal(acceptsGzip('deflate'), false);
  assert.equal(acceptsGzip(undefined), false);
  assert.equal(acceptsGzip(['identity', 'gzip']), true);
});

test('one format per snapshot; gzip once; the next snapshot is prebuilt only while scraped', () => {
  let formats = 0;
  const cache = new BodyCache((s) => { formats++; return formatCadvisor(s, { mode: 'kubelet' }); });
  const a = snapshot();
  const plain = cache.get(a, false);
  assert.equal(plain.encoding, undefined);
  assert.equal(cache.get(a, false).body, plain.body, 'the same bytes for every scrape of one snapshot');
  const gz = cache.get(a, true);
  assert.equal(gz.encoding, 'gzip');
  assert.equal(gunzipSync(gz.body).toString(), plain.body.toString());
  assert.equal(cache.get(a, true).body, gz.body, 'gzipped once');
  assert.equal(formats, 1);

  const b: Snapshot = { ...snapshot(), time: a.time + 10_000 };
  cache.warm(b); // a was scraped: b is built now
  assert.equal(formats, 2);
  const c: Snapshot = { ...snapshot(), time: a.time + 20_000 };
  cache.warm(c); // b was never sent: nobody scrapes, c waits for its first scrape
  assert.equal(formats, 2);
  assert.match(cache.get(c, true).body.subarray(0, 2).toString('hex'), /^1f8b$/);
  assert.equal(formats, 3);
});

test('fastify: gzip when accepted, identity otherwise, with Vary and the Prometheus content type', async () => {
  const app = Fastify({ logger: false });
  const cache = new BodyCache((s) => formatCadvisor(s, { mode: 'docker' }));
  const snap = snapshot();
  app.get('/metrics', async (req, reply) => sendBody(req, reply, cache, snap));
  try {
    const gz = await app.inject({ method: 'GET', url: '/metrics', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.statusCode, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.headers.vary, 'Accept-Encoding');
    assert.match(String(gz.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = gunzipSync(gz.rawPayload).toString();
    assert.match(text, /^container_cpu_usage_seconds_total\{/m);
    const plain = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body, text);
    assert.equal(Number(plain.headers['content-length']), Buffer.byteLength(text));
  } finally {
    await app.close();
  }
});
