// Fault: the API server goes away for longer than the node monitor grace period, then comes back.
// The node lifecycle controller marks the node Unknown and its pods Ready=False; once the agent can reach
// the server again the node must be Ready and every running pod Ready=True on the server within 20 s,
// with no container restarted (issue 12). The control plane's own kube-apiserver is stopped and started;
// the agent talks to it through a loopback relay held cut a little longer, so the controller's marking
// happens every time (with a plain stop it races the agent's first lease renewal).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod } from '../../../kube/api.js';
import { startBed, type Bed } from '../agent/bed.js';
import { pointKubeconfigAt, TcpRelay } from './relay.js';

const NODE = 'dl-faults-apiserver';
const NS = 'faults-apiserver';
const IMAGE = 'dockerlet/busybox:1.36';
const NAMES = ['p1', 'p2', 'p3'];
const GRACE_S = 20;
let bed: Bed | undefined;
let relay: TcpRelay | undefined;
const b = () => bed as Bed;

const podReady = (p: Pod) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status;
const nodeReady = (n: Node) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status;

async function pods(): Promise<Pod[]> {
  return (await b().kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', NS])).items;
}

/** Container id and restart count of every pod, from the server. */
async function containers(): Promise<Map<string, string>> {
  return new Map((await pods()).map((p) => {
    const cs = p.status?.containerStatuses?.[0];
    return [p.metadata.name!, `${cs?.containerID}#${cs?.restartCount}`] as const;
  }));
}

before(async () => {
  bed = await startBed({
    nodeName: NODE,
    controlPlane: { controllerManagerArgs: [`--node-monitor-grace-period=${GRACE_S}s`, '--node-monitor-period=2s'] },
  });
  relay = new TcpRelay(bed.cp.apiPort);
  await relay.start();
  await pointKubeconfigAt(bed.kubeconfigPath, relay.port);
  await bed.startAgent();
  await bed.kubectl(['create', 'namespace', NS]);
  for (const name of NAMES) {
    await bed.apply(JSON.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
      spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'app', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'exec sleep 3600'] }] },
    }));
  }
  await bed.waitFor(async () => {
    const list = await pods();
    return list.length === NAMES.length && list.every((p) => p.status?.phase === 'Running' && podReady(p) === 'True');
  }, { what: 'pods Running and Ready', timeoutMs: 90_000 });
}, { timeout: 240_000 });

after(async () => {
  await relay?.stop();
  await bed?.stop();
}, { timeout: 120_000 });

test('API server away longer than the grace period: node and pods Ready again within 20 s, nothing restarted', { timeout: 240_000 }, async (t) => {
  const before = await containers();
  await relay!.cut();
  await b().cp.stopApiserver();
  await new Promise((r) => setTimeout(r, (GRACE_S + 8) * 1000));
  await b().cp.startApiserver();
  // The controller finds no heartbeat for longer than its grace period: node Unknown, pods NotReady.
  await b().waitFor(async () => {
    const n = await b().node();
    const list = await pods();
    return nodeReady(n) === 'Unknown' && list.every((p) => podReady(p) === 'False');
  }, { what: 'node Unknown and pods Ready=False (node lifecycle controller)', timeoutMs: 90_000, intervalMs: 1000 });
  const t0 = Date.now();
  await relay!.restore();
  let nodeAt = 0;
  await b().waitFor(async () => {
    const n = await b().node();
    if (nodeReady(n) !== 'True') return false;
    nodeAt ||= Date.now() - t0;
    const list = await pods();
    return list.length === NAMES.length && list.every((p) => podReady(p) === 'True' && p.status?.phase === 'Running');
  }, { what: 'node Ready and every pod Ready=True on the server', timeoutMs: 20_000, intervalMs: 250 });
  const podsAt = Date.now() - t0;
  t.diagnostic(`after the outage: node Ready in ${(nodeAt / 1000).toFixed(1)} s, all pods Ready=True in ${(podsAt / 1000).toFixed(1)} s`);
  assert.deepEqual(await containers(), before, 'same containers, same restart counts');
  const running = (await b().docker(['ps', '-q', '--filter', `label=io.kubernetes.pod.namespace=${NS}`])).split('\n').filter(Boolean);
  assert.equal(running.length, NAMES.length * 2, 'sandbox + app of every pod still running');
  const log = b().agentLog();
  assert.ok(!/podIPs: may specify no more than one IP/.test(log), 'no refused status write');
});
