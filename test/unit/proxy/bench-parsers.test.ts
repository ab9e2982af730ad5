import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIperfJson, parseWrk } from '../../../bench/lib/load.js';

test('parses wrk --latency output (rps, p50/p99 in ms, errors)', () => {
  const out = `Running 5s test @ http://127.0.0.1:1/
  2 threads and 32 connections
  Latency Distribution
     50%  831.00us
     75%    1.20ms
     90%    2.00ms
     99%   32.38ms
  99565 requests in 5.00s, 17.63MB read
  Socket errors: connect 0, read 3, write 0, timeout 1
  Non-2xx or 3xx responses: 2
Requests/sec:  19906.12
Transfer/sec:      3.53MB
`;
  assert.deepEqual(parseWrk(out), { rps: 19906.12, p50Ms: 0.831, p99Ms: 32.38, errors: 6 });
  assert.throws(() => parseWrk('garbage'), /no Requests\/sec/);
});

test('parses iperf3 -J output and surfaces its errors', () => {
  assert.deepEqual(parseIperfJson(JSON.stringify({ end: { sum_received: { bits_per_second: 8.5e9 } } })), { gbps: 8.5 });
  assert.throws(() => parseIperfJson(JSON.stringify({ error: 'the server is busy running a test. try again later' })), /busy/);
});
