// End to end through the whole daemon (`dockerlet run`): losing a backend under load costs no new
// connection (the proxy retries the next endpoint), and 10,000 proxied connections leave no socket
// in CLOSE_WAIT and no file descriptors behind in the daemon.
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pollValue } from '../../cluster/net.js';
import type { Bed } from '../agent/bed.js';
import {
  daemonBed, fetchText, getService, httpGet, readyPods, removeOurRules, sh, sliceEndpoints, tally, webDeployment, webService,
  type DaemonBed,
} from './fixture.js';

const NODE = 'dl-px-res';
const NS = 'px-res';
const SP = `${NS}/web:http`;
let d: DaemonBed | undefined;
const b = (): Bed => (d as DaemonBed).bed;
let clusterIP = '';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A per-service-port sample of the daemon's proxy metrics. */
async function metric(name: string, labels = ''): Promise<number> {
  const { text } = await fetchText(`http://127.0.0.1:${d!.metricsPort}/metrics`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{service_port="${SP}",protocol="TCP"${labels}}`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/** The daemon and any child process of it (there should be none: the proxy runs in its process). */
function daemonPids(): number[] {
  const pid = b().agentPid()!;
  const kids = readdirSync(`/proc/${pid}/task`).flatMap((t) => {
    try { return readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
  });
  return [pid, ...kids];
}

function daemonFds(): number {
  return daemonPids().reduce((n, p) => n + readdirSync(`/proc/${p}/fd`).length, 0);
}

async function daemonCloseWait(): Promise<string[]> {
  const out = await sh('ss', ['-tanpH', 'state', 'close-wait']);
  const pids = daemonPids();
  return out.split('\n').filter((l) => pids.some((p) => l.includes(`pid=${p},`)));
}

/** Ready endpoints of the service as the API shows them. */
async function readyEndpoints(): Promise<number> {
  return [...(await sliceEndpoints(b(), NS, 'web')).values()].filter(Boolean).length;
}

/** Waits until the 3 replicas are ready in the slice and all answer through the proxy. */
async function converged(): Promise<void> {
  await readyPods(b(), NS, 'web', 3, 120_000);
  await b().waitFor(async () => (await readyEndpoints()) === 3, { what: '3 ready endpoints', timeoutMs: 60_000 });
  await b().waitFor(async () => (await tally(clusterIP, 80, 6)).size === 3, { what: 'all 3 replicas through the proxy', timeoutMs: 60_000 });
}

/**
 * n sequential new connections through the ClusterIP; `during` runs after `at` of them, between two
 * requests (awaited, so no request is in flight when it acts: a connection already spliced to a backend
 * that dies is reset, which no L4 proxy can hide; the claim is about new connections).
 */
async function load(n: number, at: number, during: () => Promise<unknown>): Promise<{ failures: string[]; hosts: Set<string>; action: unknown }> {
  const failures: string[] = [];
  const hosts = new Set<string>();
  let action: unknown;
  for (let i = 0; i < n; i++) {
    if (i === at) action = await during().catch((err: unknown) => err);
    const r = await httpGet(clusterIP, 80, 8000);
    if (r.ok) hosts.add(r.body);
    else failures.push(`#${i}: ${r.code}`);
    await sleep(15);
  }
  return { failures, hosts, action };
}

before(async () => {
  d = await daemonBed(NODE);
  await d.start();
  await b().kubectl(['create', 'namespace', NS]);
  await b().apply(webDeployment(NS, 'web', { replicas: 3 }));
  await b().apply(webService(NS, 'web', 'web'));
  clusterIP = (await getService(b(), NS, 'web')).spec.clusterIP!;
  await converged();
}, { timeout: 300_000 });

after(async () => {
  await d?.bed.stop();
  await removeOurRules().catch(() => undefined);
}, { timeout: 120_000 });

test('a backend killed under load: 0 failed new connections (the proxy dials the next endpoint)', { timeout: 120_000 }, async (t) => {
  const pods = await readyPods(b(), NS, 'web', 3);
  const victim = pods[0]!.metadata.name!;
  const id = await b().containerId(NS, victim, 'web', { running: true });
  assert.ok(id, `running container of ${victim}`);
  // Its restarted container waits 5 s before listening: the endpoint stays dead until the proxy drops it.
  await b().exec(NS, victim, 'web', ['touch', '/www/slow']);
  const failuresBefore = await metric('dockerlet_proxy_errors_total', ',kind="connect_failure"');
  const r = await load(300, 50, async () => {
    await b().docker(['kill', id]);
    await b().waitFor(async () => (await b().docker(['inspect', '-f', '{{.State.Running}}', id])).trim() === 'false', { what: 'killed container stopped', timeoutMs: 10_000, intervalMs: 100 });
  });
  const killed = r.action;
  assert.equal(killed instanceof Error, false, `docker kill: ${String(killed)}`);
  // Counters are read at scrape time; the poll only bounds a scrape that races the last dial.
  const dialFailed = async () => (await metric('dockerlet_proxy_errors_total', ',kind="connect_failure"')) - failuresBefore;
  const dialFailures = await pollValue('a failed dial in the metrics', 5_000, async () => ((await dialFailed()) > 0 ? dialFailed() : undefined), 250)
    .catch(() => dialFailed());
  t.diagnostic(`kill: ${r.failures.length} failed of 300; proxy dial failures retried: ${dialFailures}`);
  assert.deepEqual(r.failures, []);
  // The dead endpoint was really dialled (and skipped) before the proxy learnt it was gone.
  assert.ok(dialFailures > 0, `connect failures: ${dialFailures}`);
  // The kubelet restarts the container; the replica comes back into the rotation.
  await converged();
});

test('a pod deleted under load: 0 failed new connections', { timeout: 150_000 }, async (t) => {
  const pods = await readyPods(b(), NS, 'web', 3);
  const victim = pods[1]!.metadata.name!;
  const r = await load(300, 50, () => b().kubectl(['delete', 'pod', '-n', NS, victim, '--wait=false']));
  const deleted = r.action;
  assert.equal(deleted instanceof Error, false, `kubectl delete: ${String(deleted)}`);
  t.diagnostic(`delete: ${r.failures.length} failed of 300; replicas seen: ${r.hosts.size}`);
  assert.deepEqual(r.failures, []);
  await converged();
});

test('10,000 proxied connections: no CLOSE_WAIT in the daemon, fds back to where they were', { timeout: 240_000 }, async (t) => {
  const total0 = await metric('dockerlet_proxy_connections_total');
  // Baseline after a warm-up (listener pools, informer sockets settled).
  await tally(clusterIP, 80, 50);
  await b().waitFor(async () => (await metric('dockerlet_proxy_connections_active')) === 0, { what: 'no active proxied connection', timeoutMs: 30_000 });
  const fdsBefore = daemonFds();
  const N = 10_000;
  const WORKERS = 8;
  const failures: string[] = []; // first 20 codes
  let failed = 0;
  let next = 0;
  await Promise.all(Array.from({ length: WORKERS }, async () => {
    while (next < N) {
      next++;
      const r = await httpGet(clusterIP, 80, 10_000);
      if (!r.ok && ++failed <= 20) failures.push(r.code);
    }
  }));
  let proxied = 0;
  await b().waitFor(async () => (proxied = (await metric('dockerlet_proxy_connections_total')) - total0) >= N, { what: `${N} proxied connections counted`, timeoutMs: 15_000 }).catch(() => undefined);
  await b().waitFor(async () => (await metric('dockerlet_proxy_connections_active')) === 0, { what: 'every proxied connection closed', timeoutMs: 60_000 });
  const closeWait = await daemonCloseWait();
  // fds settle once the closes are processed; bounded wait for them to come back within the slack.
  let fdsAfter = daemonFds();
  for (let i = 0; i < 20 && Math.abs(fdsAfter - fdsBefore) > 10; i++) {
    await sleep(500);
    fdsAfter = daemonFds();
  }
  t.diagnostic(`connections: ${N} sent, ${proxied} proxied (incl. 50 warm-up), ${failed} failed; CLOSE_WAIT: ${closeWait.length}; fds (daemon + ${daemonPids().length - 1} children): ${fdsBefore} → ${fdsAfter}`);
  assert.equal(failed, 0, `failures: ${failures.join(' ')}`);
  assert.ok(proxied >= N, `proxied ${proxied}`);
  assert.deepEqual(closeWait, []);
  assert.ok(Math.abs(fdsAfter - fdsBefore) <= 10, `daemon fds ${fdsBefore} → ${fdsAfter}`);
});
