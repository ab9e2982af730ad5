// The notify protocol: a real `systemd-notify` delivers MAINPID/READY/STATUS to a NOTIFY_SOCKET (a
// datagram socket held by python3, as systemd's) only once the agent says it is ready; the watchdog
// pings every WATCHDOG_USEC/2 while the sync loop turns and stops when it stalls; nothing happens
// without NOTIFY_SOCKET.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SystemdNotifier, watchdogIntervalMs } from '../../../cli/sd-notify.js';
import { FakeClock } from '../../../lib/clock.js';
import { silentLogger } from '../../../lib/log.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A unix datagram listener (python3: Node has none) printing each message as one JSON line. */
async function listen(path: string): Promise<{ messages: () => string[]; close: () => void }> {
  const py = 'import socket,sys,json\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("up",flush=True)\nwhile True:\n  print(json.dumps(s.recv(65536).decode()),flush=True)\n';
  const child = spawn('python3', ['-c', py, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  for (let i = 0; i < 100 && !out.startsWith('up'); i++) await sleep(50);
  return {
    messages: () => out.split('\n').slice(1).filter(Boolean).map((l) => JSON.parse(l) as string),
    close: () => child.kill('SIGKILL'),
  };
}

test('READY=1 and STATUS reach the notify socket through systemd-notify, only once ready', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-notify-'));
  const sock = join(dir, 'notify');
  const l = await listen(sock);
  let ready = false;
  const n = new SystemdNotifier({ ready: () => ready, progress: () => 1, status: () => '3 pods, node Ready', log: silentLogger(), env: { NOTIFY_SOCKET: sock } });
  const ac = new AbortController();
  try {
    assert.ok(n.enabled);
    await n.start(ac.signal);
    await sleep(1500);
    assert.ok(l.messages().some((m) => m.includes('STATUS=starting')), 'a starting status');
    assert.ok(!l.messages().some((m) => m.includes('READY=1')), 'not ready before the node is');
    ready = true;
    for (let i = 0; i < 60 && !n.readySent; i++) await sleep(100);
    await sleep(300);
    const msg = l.messages().find((m) => m.includes('READY=1'));
    assert.ok(msg, `READY=1 sent (got ${JSON.stringify(l.messages())})`);
    assert.match(msg, new RegExp(`MAINPID=${process.pid}\\n`));
    assert.match(msg, /STATUS=3 pods, node Ready/);
    await n.stop();
    await sleep(300);
    assert.ok(l.messages().some((m) => m.includes('STOPPING=1')));
  } finally {
    ac.abort();
    l.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('watchdog: pings every WATCHDOG_USEC/2 while the loop turns, none once it stalls', async () => {
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '60000000' }), 30_000);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: String(process.pid + 1) }), undefined);
  assert.equal(watchdogIntervalMs({}), undefined);
  const clock = new FakeClock();
  const sent: string[][] = [];
  let relists = 0;
  const n = new SystemdNotifier({
    ready: () => true, progress: () => relists, log: silentLogger(), clock, stallMs: 120_000,
    env: { NOTIFY_SOCKET: '/nonexistent', WATCHDOG_USEC: '20000000' }, send: async (f) => { sent.push(f); },
  });
  const ac = new AbortController();
  await n.start(ac.signal);
  const pings = () => sent.filter((f) => f.includes('WATCHDOG=1')).length;
  const step = async (ms: number) => {
    for (let t = 0; t < ms; t += 1000) {
      clock.advance(1000);
      await sleep(0);
    }
  };
  for (let i = 0; i < 6; i++) {
    relists++;
    await step(10_000);
  }
  const whileHealthy = pings();
  assert.ok(whileHealthy >= 5, `pings while healthy: ${whileHealthy}`);
  await step(130_000); // no relist for > 2 min
  const atStall = pings();
  await step(60_000);
  assert.equal(pings(), atStall, 'no ping while stalled');
  assert.ok(sent.some((f) => f.some((x) => /^STATUS=unhealthy: sync loop stalled/.test(x))));
  relists++;
  await step(20_000);
  assert.ok(pings() > atStall, 'pings again once the loop turns');
  ac.abort();
  await n.stop();
});

test('without NOTIFY_SOCKET the notifier does nothing', async () => {
  const sent: string[][] = [];
  const n = new SystemdNotifier({ ready: () => true, progress: () => 0, log: silentLogger(), env: {}, send: async (f) => { sent.push(f); } });
  await n.start(new AbortController().signal);
  await n.stop();
  assert.equal(n.enabled, false);
  assert.deepEqual(sent, []);
});
