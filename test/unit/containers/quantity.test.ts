import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCode, ErrorCodes } from '../../../lib/errors.js';
import {
  bytesOf, compareQuantity, cpuMillis, divideCeil, milliValue, parseQuantity, value, QUANTITY_FORMAT_ERROR, QUANTITY_SUFFIX_ERROR,
} from '../../../agent/containers/quantity.js';

test('cpu quantities to millicores', () => {
  const cases: [string | number, number][] = [
    ['100m', 100], ['0.5', 500], ['2', 2000], ['1.5', 1500], ['250m', 250], [1, 1000], [0.25, 250],
    ['0.0001', 1], // rounds up, like MilliValue
    ['1n', 1], ['1500u', 2], ['+3', 3000], ['.5', 500], ['1e-3', 1], ['2e0', 2000], ['0', 0], ['0m', 0],
  ];
  for (const [q, want] of cases) assert.equal(milliValue(q), want, `milliValue(${q})`);
  assert.equal(cpuMillis(undefined), 0);
});

test('memory quantities to bytes (binary, decimal, exponent)', () => {
  const cases: [string, number][] = [
    ['128Mi', 134217728], ['1Gi', 1073741824], ['1Ki', 1024], ['0.5Ki', 512], ['1G', 1e9], ['500M', 5e8],
    ['1e3', 1000], ['1E3', 1000], ['12e-1', 2], ['1.5', 2], ['1k', 1000], ['1Ti', 1099511627776], ['129e6', 129000000],
    ['1m', 1], // a milli-byte rounds up to one byte
  ];
  for (const [q, want] of cases) assert.equal(value(q), want, `value(${q})`);
  assert.equal(bytesOf(undefined), 0);
  assert.equal(bytesOf('64Mi'), 64 * 1024 * 1024);
});

test('exa suffix E is exa, not an exponent', () => {
  const q = parseQuantity('2E');
  assert.equal(q.num, 2n * 10n ** 18n);
  assert.equal(q.den, 1n);
});

test('negative values round away from zero', () => {
  assert.equal(value('-1.5'), -2);
  assert.equal(milliValue('-100m'), -100);
});

test('malformed quantities throw CONTAINER_CONFIG with the upstream reason', () => {
  const format = ['', 'abc', '1Kb', '1 Mi', '1.2.3', 'Mi', '--1', '1Mi ', '.'];
  for (const q of format) {
    assert.throws(() => parseQuantity(q), (err: Error) => {
      assert.ok(isCode(err, ErrorCodes.CONTAINER_CONFIG), `code for ${JSON.stringify(q)}`);
      assert.ok(err.message.includes(QUANTITY_FORMAT_ERROR), `${JSON.stringify(q)}: ${err.message}`);
      return true;
    });
  }
  for (const q of ['1e', '1Mi5', '5mi', '1K', '1ee3', '1Mm']) {
    assert.throws(() => parseQuantity(q), (err: Error) => err.message.includes(QUANTITY_SUFFIX_ERROR), q);
  }
  assert.throws(() => parseQuantity(Number.NaN), /quantities must match/);
});

test('comparison and ceil division are exact', () => {
  assert.equal(compareQuantity(parseQuantity('1'), parseQuantity('1000m')), 0);
  assert.equal(compareQuantity(parseQuantity('1Gi'), parseQuantity('1G')), 1);
  assert.equal(compareQuantity(parseQuantity('0.1'), parseQuantity('101m')), -1);
  assert.equal(divideCeil(parseQuantity('250m'), parseQuantity('1')), 1n);
  assert.equal(divideCeil(parseQuantity('250m'), parseQuantity('1m')), 250n);
  assert.equal(divideCeil(parseQuantity('129Mi'), parseQuantity('1Gi')), 1n);
  assert.equal(divideCeil(parseQuantity('2Gi'), parseQuantity('1Mi')), 2048n);
});
