// Incremental iptables-restore against real iptables, inside a network namespace of the test's own
// (the host's tables are never touched): after the first full write, a Service added, changed or
// removed is written as a patch of its own rules (no chain flushed), and the tables end up exactly as
// a full write of the same specs would leave them; a patch that fails because our rules were changed
// behind our back is followed at once by a full write that repairs them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { silentLogger } from '../../../lib/log.js';
import { Portals, type IptablesRunner } from '../../../proxy/iptables.js';
import type { PortalSpec } from '../../../proxy/portals.js';

const NS = `dkinc-${process.pid}`;
const PREFIX = 'DKINC';
const inNs = (cmd: string, args: string[], input?: string) => execFileSync('ip', ['netns', 'exec', NS, cmd, ...args], { encoding: 'utf8', input, timeout: 30_000 });

before(() => { execFileSync('ip', ['netns', 'add', NS]); });
after(() => { execFileSync('ip', ['netns', 'del', NS]); });

const batches: string[] = [];
const runner: IptablesRunner = {
  async listBuiltins() {
    const list = (t: string, chains: string[]) => chains.map((c) => inNs('iptables', ['-w', '5', '-t', t, '-S', c])).join('\n');
    return { nat: list('nat', ['PREROUTING', 'OUTPUT']), filter: list('filter', ['INPUT', 'FORWARD', 'OUTPUT']) };
  },
  restore(input) {
    batches.push(input);
    return new Promise((resolve, reject) => {
      const p = spawn('ip', ['netns', 'exec', NS, 'iptables-restore', '-w', '5', '--noflush'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`iptables-restore exited ${code}: ${err}`))));
      p.stdin.end(input);
    });
  },
};

/** Our rules as iptables lists them, per table, sorted (rule order across ports does not matter; within one port it is checked apart). */
const state = () => ['nat', 'filter'].map((t) => inNs('iptables', ['-w', '5', '-t', t, '-S']).split('\n').filter((l) => l.includes(PREFIX)).sort()).flat();
const spec = (i: number, extra: Partial<PortalSpec> = {}): PortalSpec => ({
  key: `ns/s${i}:http`, protocol: 'TCP', ips: [`10.96.1.${i}`], port: 80, nodePort: 0, listenerPort: 41000 + i, ...extra,
});

/** What a fresh instance writing `specs` in full leaves in a namespace of its own. */
async function fullState(specs: PortalSpec[]): Promise<string[]> {
  const fresh = new Portals({ prefix: PREFIX, nodeIP: '192.0.2.9' }, { runner, log: silentLogger() });
  await fresh.cleanup();
  await fresh.apply(specs);
  return state();
}

test('a Service added, changed, removed: patches of its own rules; the tables equal a full write', async () => {
  const p = new Portals({ prefix: PREFIX, nodeIP: '192.0.2.9' }, { runner, log: silentLogger() });
  const many = Array.from({ length: 30 }, (_, i) => spec(i + 1));
  assert.equal(await p.apply(many), true);
  assert.match(batches.at(-1)!, new RegExp(`^:${PREFIX}-PORTALS-HOST - \\[0:0\\]$`, 'm'), 'the first write declares every chain');
  assert.equal(await p.apply(many), false, 'nothing changed: no batch');

  const steps: PortalSpec[][] = [
    [...many, spec(99)],
    [...many.map((s, i) => (i === 3 ? spec(4, { listenerPort: 45004, refuse: 'REJECT' as const }) : s)), spec(99)],
    [...many.slice(1).map((s, i) => (i === 2 ? spec(4, { listenerPort: 45004, refuse: 'REJECT' as const }) : s)), spec(99)],
  ];
  const patches: string[] = [];
  for (const specs of steps) {
    assert.equal(await p.apply(specs), true);
    const batch = batches.at(-1)!;
    patches.push(batch);
    assert.doesNotMatch(batch, /^:/m, `a patch flushes no chain:\n${batch}`);
    assert.ok(batch.split('\n').filter((l) => /^-[AD] /.test(l)).length <= 5, `only the changed port's rules:\n${batch}`);
    const got = state();
    assert.deepEqual(got, await fullState(specs));
    // The full write above was made by another instance in the same namespace: ours goes on from there.
    assert.equal(await p.apply(specs), false);
  }
  assert.match(patches[2]!, /^-D DKINC-PORTALS-HOST -d 10\.96\.1\.1\/32 /m, 'the removed Service\'s rules deleted by spec');
});

test('a patch that cannot apply (our rule deleted behind our back) is followed by a full write', async () => {
  const p = new Portals({ prefix: PREFIX, nodeIP: '192.0.2.9' }, { runner, log: silentLogger() });
  await p.cleanup();
  const specs = Array.from({ length: 10 }, (_, i) => spec(i + 1));
  await p.apply(specs);
  const victim = inNs('iptables', ['-t', 'nat', '-S', `${PREFIX}-PORTALS-HOST`]).split('\n').find((l) => l.includes('10.96.1.2/32'))!;
  inNs('iptables', ['-t', 'nat', ...victim.replace(/^-A /, '-D ').match(/"[^"]*"|\S+/g)!.map((t) => t.replace(/^"|"$/g, ''))]);
  const n = batches.length;
  const changed = specs.map((s, i) => (i === 1 ? spec(2, { listenerPort: 42002 }) : s));
  assert.equal(await p.apply(changed), true);
  assert.equal(batches.length, n + 2, 'the failed patch, then the full write');
  assert.match(batches.at(-1)!, new RegExp(`^:${PREFIX}-PORTALS-HOST - \\[0:0\\]$`, 'm'));
  assert.deepEqual(state(), await fullState(changed));
  await p.cleanup();
  assert.deepEqual(state(), []);
});
