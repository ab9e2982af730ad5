// End to end through the whole daemon (`dockerlet run`): its DOCKERLET nat rules exist exactly once
// after a restart following SIGKILL or SIGTERM, are all gone after a clean SIGTERM stop, and the
// proxy's health and metrics endpoints report syncs and per-service connection counts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bed } from '../agent/bed.js';
import {
  daemonBed, fetchText, getService, httpGet, mustGet, rulesSave, ourRules, PREFIX, readyPods, removeOurRules, tally, webDeployment, webService,
  type DaemonBed,
} from './fixture.js';
import { allChainNames, jumpRules } from '../../../proxy/portals.js';

const NODE = 'dl-px-rules';
const NS = 'px-rules';
let d: DaemonBed | undefined;
const b = (): Bed => (d as DaemonBed).bed;
let clusterIP = '';
const CHAINS = allChainNames(PREFIX).sort();

/** Every jump rule's target: one per chain, but the firewall is jumped to from INPUT, FORWARD and OUTPUT. */
const JUMP_TARGETS = jumpRules(PREFIX).map((j) => j.target).sort();

/** Asserts exactly one set of our rules: 6 chains (4 nat, 2 filter), exactly the jumps to them from their builtins, no duplicate rule. */
function assertOneSet(save: string, what: string): ReturnType<typeof ourRules> {
  const r = ourRules(save);
  assert.deepEqual(r.chains.map((c) => c.split(' ')[0]!.slice(1)).sort(), CHAINS, `${what}: chains\n${save}`);
  const targets = r.jumps.map((j) => j.split(' -j ')[1]).sort();
  assert.deepEqual(targets, JUMP_TARGETS, `${what}: jump rules\n${r.jumps.join('\n')}`);
  assert.equal(new Set(r.serviceRules).size, r.serviceRules.length, `${what}: duplicate service rules\n${r.serviceRules.join('\n')}`);
  return r;
}

/** The service rules for our web service, with the listener port they redirect to. */
function webRules(r: ReturnType<typeof ourRules>): string[] {
  return r.serviceRules.filter((l) => l.includes(`"${NS}/web:http"`));
}

/** Waits until the running daemon has applied its rules for the web service and the ClusterIP answers. */
async function programmed(what: string): Promise<ReturnType<typeof ourRules>> {
  await b().waitFor(async () => webRules(ourRules(await rulesSave())).length === 2, { what: `${what}: web service rules`, timeoutMs: 60_000, intervalMs: 500 });
  await b().waitFor(() => mustGet(clusterIP, 80), { what: `${what}: ClusterIP answers`, timeoutMs: 30_000, intervalMs: 500 });
  return assertOneSet(await rulesSave(), what);
}

function assertNone(save: string, what: string): void {
  const r = ourRules(save);
  assert.deepEqual(r, { chains: [], jumps: [], serviceRules: [] }, `${what}: our rules left behind`);
  assert.ok(!save.includes(PREFIX), `${what}: ${PREFIX} still in the nat table`);
}

before(async () => {
  const leftover = ourRules(await rulesSave());
  if (leftover.chains.length || leftover.jumps.length) await removeOurRules(); // a previous run's crash
  d = await daemonBed(NODE);
  await d.start();
  await b().kubectl(['create', 'namespace', NS]);
  await b().apply(webDeployment(NS, 'web', { replicas: 2 }));
  await b().apply(webService(NS, 'web', 'web'));
  clusterIP = (await getService(b(), NS, 'web')).spec.clusterIP!;
  await readyPods(b(), NS, 'web', 2, 120_000);
}, { timeout: 300_000 });

after(async () => {
  await d?.bed.stop();
  await removeOurRules().catch(() => undefined);
}, { timeout: 120_000 });

test('a running daemon has exactly one set of DOCKERLET rules', { timeout: 90_000 }, async () => {
  const r = await programmed('first start');
  // Both portals of the web service: container REDIRECT and host DNAT to the same listener port on a
  // node address (never loopback: CVE-2020-8558).
  const rules = webRules(r);
  assert.ok(rules.some((l) => l.startsWith(`-A ${PREFIX}-PORTALS-CONTAINER -d ${clusterIP}/32 `) && l.includes('-j REDIRECT --to-ports')), rules.join('\n'));
  const host = rules.find((l) => l.startsWith(`-A ${PREFIX}-PORTALS-HOST -d ${clusterIP}/32 `));
  assert.match(host ?? '', / -j DNAT --to-destination \d+\.\d+\.\d+\.\d+:\d+$/, rules.join('\n'));
  assert.doesNotMatch(host!, /--to-destination 127\./, 'host traffic is not DNATed to loopback');
  assert.ok(r.chains.some((c) => c.startsWith(`:${PREFIX}-LOOPBACK-GUARD`)), 'the loopback guard chain is there');
});

test('restart after SIGKILL: still exactly one set, pointing at the new listener, without stale services', { timeout: 150_000 }, async () => {
  await b().apply(webService(NS, 'gone', 'web'));
  const goneRules = async () => ourRules(await rulesSave()).serviceRules.filter((l) => l.includes(`"${NS}/gone:http"`));
  await b().waitFor(async () => (await goneRules()).length === 2, { what: 'rules of service gone', timeoutMs: 30_000, intervalMs: 500 });
  const before = webRules(ourRules(await rulesSave()));
  await b().killAgent();
  // A killed daemon cannot clean up: its rules stay (pointing at a dead listener).
  assertOneSet(await rulesSave(), 'after SIGKILL');
  const dead = await httpGet(clusterIP, 80, 8000);
  assert.equal(dead.ok, false, 'the ClusterIP answered with the daemon dead');
  // A service deleted while the daemon is down must not survive its restart.
  await b().kubectl(['delete', 'service', '-n', NS, 'gone']);
  await d!.start();
  await b().waitFor(async () => {
    const now = webRules(ourRules(await rulesSave()));
    return now.length === 2 && now.join() !== before.join();
  }, { what: 'web rules re-pointed at the new listener', timeoutMs: 60_000, intervalMs: 500 });
  await programmed('after restart from SIGKILL');
  assert.deepEqual(await goneRules(), []);
});

test('restart after SIGTERM: the clean stop removed everything, the new start installs one set', { timeout: 120_000 }, async () => {
  await b().stopAgent('SIGTERM');
  assert.match(b().agentLog(), /SIGTERM, stopping/);
  assertNone(await rulesSave(), 'after SIGTERM');
  await d!.start();
  await programmed('after restart from SIGTERM');
});

test('health answers 200 with lastUpdated/currentTime; metrics show syncs and per-service connections', { timeout: 90_000 }, async () => {
  const h = await fetchText(`http://127.0.0.1:${d!.healthzPort}/healthz`);
  assert.equal(h.status, 200, h.text);
  const body = JSON.parse(h.text) as { lastUpdated?: string; currentTime?: string };
  assert.ok(body.lastUpdated && body.currentTime, h.text);
  const updated = Date.parse(body.lastUpdated);
  const now = Date.parse(body.currentTime);
  assert.ok(Number.isFinite(updated) && Number.isFinite(now) && updated > 0 && updated <= now, h.text);
  assert.equal((await fetchText(`http://127.0.0.1:${d!.healthzPort}/livez`)).status, 200);

  const N = 20;
  const seen = await tally(clusterIP, 80, N);
  assert.ok(![...seen.keys()].some((k) => k.startsWith('!')), `failures: ${[...seen].join(' ')}`);
  // The counters are read from the data path at scrape time: the N connections are in at once.
  const m = await fetchText(`http://127.0.0.1:${d!.metricsPort}/metrics`);
  assert.equal(m.status, 200);
  const connLine = `dockerlet_proxy_connections_total{service_port="${NS}/web:http",protocol="TCP"} `;
  assert.ok(Number(m.text.split('\n').find((l) => l.startsWith(connLine))?.split(' ').pop() ?? 0) >= N, m.text);
  // The metrics port also answers as kube-proxy's: /healthz, /proxyMode, /configz.
  assert.equal((await fetchText(`http://127.0.0.1:${d!.metricsPort}/healthz`)).text, 'ok');
  assert.equal((await fetchText(`http://127.0.0.1:${d!.metricsPort}/proxyMode`)).text, 'userspace');
  const configz = JSON.parse((await fetchText(`http://127.0.0.1:${d!.metricsPort}/configz`)).text) as Record<string, { metricsBindAddress?: string }>;
  assert.equal(configz['kubeproxy.config.k8s.io']?.metricsBindAddress, `127.0.0.1:${d!.metricsPort}`);
  const value = (prefix: string) => {
    const line = m.text.split('\n').find((l) => l.startsWith(prefix));
    return line ? Number(line.split(' ').pop()) : NaN;
  };
  const last = value('kubeproxy_sync_proxy_rules_last_timestamp_seconds ');
  assert.ok(last > 0 && Math.abs(last * 1000 - updated) < 60_000, `last sync ${last}, healthz lastUpdated ${body.lastUpdated}`);
  const conns = value(`dockerlet_proxy_connections_total{service_port="${NS}/web:http",protocol="TCP"}`);
  assert.ok(conns >= N, `connections_total ${conns}\n${m.text.split('\n').filter((l) => l.includes(NS)).join('\n')}`);
  assert.ok(value(`dockerlet_proxy_bytes_total{service_port="${NS}/web:http",protocol="TCP",direction="out"}`) > 0);
});

test('a clean SIGTERM stop leaves none of our chains or jumps, and closes the proxy ports', { timeout: 90_000 }, async () => {
  await b().stopAgent('SIGTERM');
  assertNone(await rulesSave(), 'after the final SIGTERM');
  const r = await httpGet('127.0.0.1', d!.healthzPort, 5000);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.code, 'ECONNREFUSED');
  // The ClusterIP is no longer intercepted: it fails locally at once (egress guard), no hang.
  const c = await httpGet(clusterIP, 80, 8000);
  assert.equal(c.ok, false);
  if (!c.ok) assert.notEqual(c.code, 'TIMEOUT');
});
