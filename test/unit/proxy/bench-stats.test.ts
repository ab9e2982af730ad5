import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, pairedRatios, shuffled, type Figures, type Sample } from '../../../bench/lib/proxy-stats.js';

const fig = (o: Partial<Figures>): Figures => ({
  throughput_1stream_gbps: 1, throughput_4stream_gbps: 1, keepalive_rps: 1, newconn_rate: 1, fixed_rate_rps: 1, fixed_rate_p50_ms: 1, fixed_rate_p99_ms: 1,
  keepalive_cpu_us_per_req: 1, newconn_cpu_us_per_conn: 1, errors: 0, ...o,
});
const sample = (round: number, o: Partial<Figures>): Sample => ({ round, position: 1, timeWaitAtStart: 0, figures: fig(o) });

test('ratios pair by the stamped round (a lost round does not shift the pairs); spread and verdicts', () => {
  // Round 2 of "mine" was lost: positions would pair mine's round 3 with the peer's round 2.
  const mine = [sample(1, { keepalive_rps: 110, fixed_rate_p99_ms: 2, newconn_rate: 90 }), sample(3, { keepalive_rps: 120, fixed_rate_p99_ms: 0.5, newconn_rate: 80 })];
  const peer = [sample(1, { keepalive_rps: 100, fixed_rate_p99_ms: 1, newconn_rate: 100 }), sample(2, { keepalive_rps: 1000 }), sample(3, { keepalive_rps: 100, fixed_rate_p99_ms: 1, newconn_rate: 100 })];
  const r = pairedRatios(mine, peer);
  assert.deepEqual(r.keepalive_rps, { per_round: { 1: 1.1, 3: 1.2 }, median: 1.15, min: 1.1, max: 1.2, verdict: 'better' });
  assert.equal(r.newconn_rate?.verdict, 'worse');
  // Latency: lower is better, and these two rounds disagree → parity.
  assert.equal(r.fixed_rate_p99_ms?.verdict, 'parity');
  assert.equal(median([3, 1, 2, 10]), 2.5);
});

test('shuffled keeps every item once', () => {
  let x = 0.3;
  const rnd = () => (x = (x * 9301 + 0.49297) % 1);
  const out = shuffled(['a', 'b', 'c', 'd', 'e'], rnd);
  assert.deepEqual([...out].sort(), ['a', 'b', 'c', 'd', 'e']);
});
