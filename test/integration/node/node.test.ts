// The node heartbeat against the real control plane with NODE credentials (Node authorizer +
// NodeRestriction): registration, status, the Lease, re-registration, events, and the node-lifecycle
// controller marking the node Unknown once the agent stops.
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import type { CoreEvent, Lease, List, Node } from '../../../kube/api.js';
import { createKubeClient, type DockerletKubeClient } from '../../../kube/client.js';
import { loadKubeconfig } from '../../../kube/kubeconfig.js';
import { NodeController } from '../../../agent/node/controller.js';
import { readHostInfo } from '../../../agent/node/hostinfo.js';
import { leasePath } from '../../../agent/node/lease.js';
import { registerNode } from '../../../agent/node/register.js';
import { EventRecorder } from '../../../kube/events.js';
import { startControlPlane, type ControlPlane } from '../../cluster/harness.js';
import { pollValue } from '../../cluster/net.js';

const NODE = 'dl-node-h6';
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

let cp: ControlPlane | undefined;
let nodeClient: DockerletKubeClient | undefined;
let ctl: NodeController | undefined;
let recorder: EventRecorder | undefined;
const ac = new AbortController();
const docker = new Docker();
const runtime = { version: async () => ({ version: String((await docker.version()).Version) }) };

function kubectlJson<T>(args: string[]): Promise<T> {
  const kc = (cp as ControlPlane).adminKubeconfigPath;
  return new Promise((resolve, reject) => {
    execFile(KUBECTL, ['--kubeconfig', kc, '--request-timeout=20s', ...args, '-o', 'json'], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kubectl ${args.join(' ')}: ${String(stderr).trim()}`));
      else resolve(JSON.parse(String(stdout)) as T);
    });
  });
}

const until = <T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> => pollValue(what, timeoutMs, fn, 1000);

const readyOf = (n: Node) => n.status?.conditions?.find((c) => c.type === 'Ready');

before(async () => {
  cp = await startControlPlane();
  const creds = await cp.mintNodeCredentials(NODE);
  nodeClient = createKubeClient(loadKubeconfig(creds.kubeconfigPath));
}, { timeout: 180_000 });

after(async () => {
  ac.abort();
  await ctl?.stop().catch(() => undefined);
  await recorder?.stop();
  nodeClient?.close();
  await cp?.stop();
});

test('NodeController registers the Node with capacity, allocatable, nodeInfo, addresses, labels and Ready=True', { timeout: 60_000 }, async () => {
  recorder = new EventRecorder({ client: nodeClient, component: 'kubelet', host: NODE });
  await recorder.start(ac.signal);
  ctl = new NodeController({
    client: nodeClient as DockerletKubeClient,
    nodeName: NODE,
    runtime,
    events: recorder,
    config: {
      labels: { 'example.com/pool': 'h6', 'node.kubernetes.io/instance-type': 'vm' },
      taints: [{ key: 'example.com/dedicated', value: 'h6', effect: 'NoSchedule' }],
    },
  });
  await ctl.start(ac.signal);
  assert.equal(ctl.ready(), true);
  const host = await readHostInfo();
  const n = await kubectlJson<Node>(['get', 'node', NODE]);
  assert.equal(n.metadata.uid, ctl.node()?.metadata.uid);
  assert.equal(n.metadata.labels?.['kubernetes.io/hostname'], host.hostname);
  assert.equal(n.metadata.labels?.['kubernetes.io/os'], 'linux');
  assert.equal(n.metadata.labels?.['kubernetes.io/arch'], host.architecture);
  assert.equal(n.metadata.labels?.['example.com/pool'], 'h6');
  assert.ok(n.spec?.taints?.some((t) => t.key === 'example.com/dedicated' && t.effect === 'NoSchedule'));
  const cap = n.status?.capacity ?? {};
  assert.equal(cap.cpu, String(host.cpuCount));
  assert.equal(cap.pods, '110');
  assert.match(cap.memory ?? '', /^\d+(Ki|Mi|Gi)?$/);
  assert.ok(cap['ephemeral-storage']);
  const alloc = n.status?.allocatable ?? {};
  assert.equal(alloc.pods, '110');
  assert.ok(alloc.memory && alloc.memory !== cap.memory, 'allocatable memory has the hard-eviction reserve taken off');
  const info = n.status?.nodeInfo ?? {};
  assert.equal(info.kubeletVersion, 'v1.34.4-dockerlet');
  assert.match(info.containerRuntimeVersion ?? '', /^docker:\/\/\d+\./);
  assert.equal(info.bootID, host.bootID);
  assert.equal(info.operatingSystem, 'linux');
  assert.equal(info.architecture, host.architecture);
  assert.deepEqual(n.status?.daemonEndpoints, { kubeletEndpoint: { Port: 10250 } });
  assert.deepEqual(n.status?.addresses?.map((a) => a.type), ['InternalIP', 'Hostname']);
  if (host.internalIP) assert.equal(n.status?.addresses?.[0]?.address, host.internalIP);
  const ready = readyOf(n);
  assert.equal(ready?.status, 'True');
  assert.equal(ready?.reason, 'KubeletReady');
  assert.equal(ready?.message, 'kubelet is posting ready status');
  assert.deepEqual(n.status?.conditions?.map((c) => c.type).filter((t) => t !== 'NetworkUnavailable'),
    ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready']);
});

test('the Lease exists in kube-node-lease, is owned by the Node, and its renewTime advances', { timeout: 60_000 }, async () => {
  const n = await kubectlJson<Node>(['get', 'node', NODE]);
  const first = await until('the lease', 20_000, async () => kubectlJson<Lease>(['-n', 'kube-node-lease', 'get', 'lease', NODE]));
  assert.equal(first.spec.holderIdentity, NODE);
  assert.equal(first.spec.leaseDurationSeconds, 40);
  assert.deepEqual(first.metadata.ownerReferences?.map((o) => [o.kind, o.apiVersion, o.name, o.uid]), [['Node', 'v1', NODE, n.metadata.uid]]);
  const advanced = await until('renewTime to advance', 30_000, async () => {
    const l = await (nodeClient as DockerletKubeClient).get<Lease>(leasePath(NODE));
    return l.spec.renewTime !== first.spec.renewTime ? l : undefined;
  });
  assert.ok(Date.parse(advanced.spec.renewTime ?? '') > Date.parse(first.spec.renewTime ?? ''));
});

test('registering again (agent restart) reconciles labels under NodeRestriction and leaves taints alone', { timeout: 30_000 }, async () => {
  const host = await readHostInfo();
  const r = await registerNode(nodeClient as DockerletKubeClient, {
    name: NODE,
    hostname: host.hostname,
    architecture: host.architecture,
    labels: { 'example.com/pool': 'h6-b', 'example.com/added': 'yes' },
    taints: [{ key: 'example.com/other', effect: 'NoExecute' }],
  });
  assert.equal(r.created, false);
  assert.equal(r.previous?.metadata.labels?.['example.com/pool'], 'h6');
  const n = await kubectlJson<Node>(['get', 'node', NODE]);
  assert.equal(n.metadata.labels?.['example.com/pool'], 'h6-b');
  assert.equal(n.metadata.labels?.['example.com/added'], 'yes');
  assert.ok(n.spec?.taints?.some((t) => t.key === 'example.com/dedicated'));
  assert.ok(!n.spec?.taints?.some((t) => t.key === 'example.com/other'));
});

test('EventRecorder writes an Event visible to kubectl; a repeat increments count', { timeout: 60_000 }, async () => {
  const rec = new EventRecorder({ client: nodeClient, component: 'kubelet', host: NODE });
  const rac = new AbortController();
  await rec.start(rac.signal);
  try {
    const obj = { kind: 'Node', name: NODE, uid: NODE, namespace: '' };
    rec.event(obj, 'Warning', 'H6TestEvent', 'hello from the recorder');
    await rec.flush();
    const list = () => kubectlJson<List<CoreEvent>>(['-n', 'default', 'get', 'events', '--field-selector', `reason=H6TestEvent`]);
    const first = await until('the event', 20_000, async () => (await list()).items[0]);
    assert.equal(first.count, 1);
    assert.equal(first.type, 'Warning');
    assert.equal(first.involvedObject.kind, 'Node');
    assert.equal(first.involvedObject.name, NODE);
    assert.deepEqual(first.source, { component: 'kubelet', host: NODE });
    assert.equal(first.reportingComponent, 'kubelet');
    assert.equal(first.reportingInstance, NODE);
    rec.event(obj, 'Warning', 'H6TestEvent', 'hello from the recorder');
    await rec.flush();
    const again = await until('count 2', 20_000, async () => {
      const items = (await list()).items;
      return items.length === 1 && items[0]?.count === 2 ? items[0] : undefined;
    });
    assert.equal(again.metadata.name, first.metadata.name);
    // The controller's own node events went through the same recorder and API.
    await recorder?.flush();
    const reasons = (await kubectlJson<List<CoreEvent>>(['-n', 'default', 'get', 'events', '--field-selector', `involvedObject.name=${NODE}`]))
      .items.filter((e) => e.source?.component === 'kubelet').map((e) => e.reason);
    for (const r of ['Starting', 'NodeHasSufficientMemory', 'NodeHasNoDiskPressure', 'NodeHasSufficientPID', 'NodeReady']) {
      assert.ok(reasons.includes(r), `event ${r} in ${reasons.join(',')}`);
    }
  } finally {
    rac.abort();
    await rec.stop();
  }
});

test('after the NodeController stops, the node-lifecycle controller marks Ready Unknown (grace period ~50 s)', { timeout: 150_000 }, async () => {
  await (ctl as NodeController).stop();
  const n = await kubectlJson<Node>(['get', 'node', NODE]);
  assert.ok(n.metadata.uid, 'the Node is not deleted by stop()');
  const unknown = await until('Ready=Unknown', 130_000, async () => {
    const cur = await kubectlJson<Node>(['get', 'node', NODE]);
    const r = readyOf(cur);
    return r?.status === 'Unknown' ? r : undefined;
  });
  assert.equal(unknown.reason, 'NodeStatusUnknown');
  assert.equal(unknown.message, 'Kubelet stopped posting node status.');
});
