// Incremental iptables-restore planning: only the chains that changed, patched per service port
// (-D the port's old rules, -A its new ones), a chain flushed and refilled when most of it changes,
// a full write (every chain declared) when nothing is known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderFilterRules, renderGuardRules, renderServiceRules, type PortalOptions, type PortalSpec } from '../../../proxy/portals.js';
import { planChain, planRestore, ruleGroup, rulesByChain } from '../../../proxy/restore-plan.js';

const P = 'DKL';
const opts: PortalOptions = { prefix: P, nodeIP: '192.0.2.9' };
const spec = (i: number, extra: Partial<PortalSpec> = {}): PortalSpec => ({
  key: `ns/s${i}:http`, protocol: 'TCP', ips: [`10.96.0.${i}`], port: 80, nodePort: 0, listenerPort: 40000 + i, ...extra,
});
const chains = (specs: PortalSpec[]) => rulesByChain(P, [...renderServiceRules(specs, opts), ...renderGuardRules(P), ...renderFilterRules(specs, P)]);
const noFixes = { nat: [], filter: [] };
const lines = (s: string | null) => (s ?? '').split('\n').filter(Boolean);

test('nothing known: every chain of ours is declared and filled, nat then filter', () => {
  const out = lines(planRestore(P, undefined, chains([spec(1), spec(2)]), noFixes));
  assert.equal(out[0], '*nat');
  for (const c of ['PORTALS-CONTAINER', 'PORTALS-HOST', 'NODEPORT-CONTAINER', 'NODEPORT-HOST']) assert.ok(out.includes(`:${P}-${c} - [0:0]`), c);
  for (const c of ['SERVICES', 'FIREWALL', 'LOOPBACK-GUARD']) assert.ok(out.includes(`:${P}-${c} - [0:0]`), c);
  assert.equal(out.filter((l) => l.startsWith(`-A ${P}-PORTALS-HOST `)).length, 2);
  assert.equal(out.filter((l) => l.startsWith(`-A ${P}-LOOPBACK-GUARD `)).length, 1);
  assert.deepEqual(out.filter((l) => l === 'COMMIT').length, 2);
});

test('unchanged rules and jumps: no batch at all', () => {
  const c = chains([spec(1), spec(2)]);
  assert.equal(planRestore(P, c, chains([spec(1), spec(2)]), noFixes), null);
});

test('one Service added among many: only its rules are appended, no chain is flushed, filter untouched', () => {
  const many = Array.from({ length: 40 }, (_, i) => spec(i + 1));
  const out = lines(planRestore(P, chains(many), chains([...many, spec(99)]), noFixes));
  assert.deepEqual(out, [
    '*nat',
    `-A ${P}-PORTALS-CONTAINER -d 10.96.0.99/32 -p tcp -m comment --comment "ns/s99:http" -m tcp --dport 80 -j REDIRECT --to-ports 40099`,
    `-A ${P}-PORTALS-HOST -d 10.96.0.99/32 -p tcp -m comment --comment "ns/s99:http" -m tcp --dport 80 -j DNAT --to-destination 192.0.2.9:40099`,
    'COMMIT',
  ]);
});

test('one Service removed or changed: its old rules deleted by spec, its new ones appended in order', () => {
  const many = Array.from({ length: 40 }, (_, i) => spec(i + 1));
  const removed = lines(planRestore(P, chains(many), chains(many.slice(1)), noFixes));
  assert.deepEqual(removed.filter((l) => l.startsWith('-')).map((l) => l.split(' ').slice(0, 2).join(' ')), [`-D ${P}-PORTALS-CONTAINER`, `-D ${P}-PORTALS-HOST`]);
  assert.ok(removed.every((l) => !l.startsWith(':')), 'no chain declared (flushed)');
  // s5 gets a new listener port and no endpoints: nat rules replaced, a REJECT appears in the filter chain.
  const changed = many.map((s, i) => (i === 4 ? spec(5, { listenerPort: 45555, refuse: 'REJECT' }) : s));
  const out = lines(planRestore(P, chains(many), chains(changed), noFixes));
  const nat = out.slice(0, out.indexOf('COMMIT'));
  assert.deepEqual(nat.map((l) => l.split(' ').slice(0, 2).join(' ')), ['*nat', `-D ${P}-PORTALS-CONTAINER`, `-A ${P}-PORTALS-CONTAINER`, `-D ${P}-PORTALS-HOST`, `-A ${P}-PORTALS-HOST`]);
  assert.match(nat[1]!, /--to-ports 40005$/);
  assert.match(nat[2]!, /--to-ports 45555$/);
  const filter = out.slice(out.indexOf('COMMIT') + 1);
  assert.equal(filter[0], '*filter');
  assert.match(filter[1]!, new RegExp(`^-A ${P}-SERVICES .*"ns/s5:http has no endpoints".* --dport 45555 -j REJECT`));
});

test('builtin jump fixes are written even when no chain changed', () => {
  const c = chains([spec(1)]);
  const out = lines(planRestore(P, c, c, { nat: [`-I PREROUTING 1 -j ${P}-PORTALS-CONTAINER`], filter: [] }));
  assert.deepEqual(out, ['*nat', `-I PREROUTING 1 -j ${P}-PORTALS-CONTAINER`, 'COMMIT']);
});

test('a chain mostly rewritten is flushed and refilled instead of patched', () => {
  const before = Array.from({ length: 20 }, (_, i) => `-A X -d 10.0.0.${i}/32 -m comment --comment "k${i}" -j DROP`);
  const after = Array.from({ length: 20 }, (_, i) => `-A X -d 10.1.0.${i}/32 -m comment --comment "k${i}" -j DROP`);
  assert.deepEqual(planChain('X', before, after), { flush: true, lines: after });
  assert.equal(planChain('X', before, before), undefined);
  const one = [...before.slice(0, 19), '-A X -d 10.9.9.9/32 -m comment --comment "k19" -j DROP'];
  assert.deepEqual(planChain('X', before, one), { flush: false, lines: [before[19]!.replace('-A ', '-D '), one[19]!] });
});

test('rules group by their comment; a pod-bridge rule stays ahead of its port\'s general rule when re-added', () => {
  assert.equal(ruleGroup('-A C -d 10.0.0.1/32 -m comment --comment "ns/a:http has no endpoints" -j REJECT'), 'ns/a:http has no endpoints');
  assert.equal(ruleGroup('-A C -j DROP'), '-A C -j DROP');
  const ext = { ...spec(7), hostListenerPort: 41000 };
  const withBridge = (s: PortalSpec[]) => rulesByChain(P, renderServiceRules(s, { ...opts, podBridgeInterface: 'docker0' }));
  const before = withBridge(Array.from({ length: 20 }, (_, i) => spec(i + 20)));
  const out = lines(planRestore(P, before, withBridge([...Array.from({ length: 20 }, (_, i) => spec(i + 20)), ext]), noFixes));
  const container = out.filter((l) => l.startsWith(`-A ${P}-PORTALS-CONTAINER`));
  assert.equal(container.length, 2);
  assert.match(container[0]!, / -i docker0 /, 'the bridge rule first');
  assert.doesNotMatch(container[1]!, / -i docker0 /);
});

test('rulesByChain refuses a rule for a chain that is not ours', () => {
  assert.throws(() => rulesByChain(P, ['-A PREROUTING -j ACCEPT']), RangeError);
});
