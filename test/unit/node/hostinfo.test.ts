// The default-route interface from /proc/net/route: lowest metric among up IPv4 default routes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultRouteInterface, readHostInfo } from '../../../agent/node/hostinfo.js';

const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';

test('the default route with the lowest metric wins; non-default and down routes are ignored', () => {
  const table = [
    HEADER,
    'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    'wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0',
    'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
    'eth9\t00000000\t010200C0\t0002\t0\t0\t1\t00000000\t0\t0\t0',
  ].join('\n');
  assert.equal(defaultRouteInterface(table), 'eth0');
  assert.equal(defaultRouteInterface([HEADER, 'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0'].join('\n')), undefined);
  assert.equal(defaultRouteInterface(''), undefined);
});

test('readHostInfo reports this host\'s default-route address (as `ip route get` sees it)', async () => {
  const info = await readHostInfo();
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync('ip', ['-4', 'route', 'show', 'default'], { encoding: 'utf8' });
  if (!out.trim()) return; // no default route in this namespace: nothing to compare
  const dev = /\bdev (\S+)/.exec(out)?.[1];
  const addr = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', dev!], { encoding: 'utf8' });
  const ips = [...addr.matchAll(/inet (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]);
  assert.ok(ips.includes(info.internalIP ?? ''), `internal IP ${String(info.internalIP)} not among ${ips.join(', ')} of ${dev}`);
});
