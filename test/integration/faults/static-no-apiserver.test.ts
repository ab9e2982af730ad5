// Fault: the agent starts while the API server cannot be reached. Its static pods run anyway (the kubelet
// runs a control plane's own static pods before there is an API server); once the server answers, the
// node registers and the mirror pod appears, Running and Ready, for the same container (not restarted).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../../kube/api.js';
import { startBed, type Bed } from '../agent/bed.js';
import { pointKubeconfigAt, TcpRelay } from './relay.js';

const NODE = 'dl-faults-static';
const IMAGE = 'dockerlet/busybox:1.36';
let bed: Bed | undefined;
let relay: TcpRelay | undefined;
const b = () => bed as Bed;

before(async () => {
  bed = await startBed({ nodeName: NODE, staticPods: true });
  relay = new TcpRelay(bed.cp.apiPort);
  await relay.start();
  await pointKubeconfigAt(bed.kubeconfigPath, relay.port);
}, { timeout: 180_000 });

after(async () => {
  await relay?.stop();
  await bed?.stop();
}, { timeout: 120_000 });

test('static pods run without an API server; the mirror pod follows when it appears', { timeout: 180_000 }, async () => {
  await relay!.cut();
  writeFileSync(join(b().manifestDir!, 'web.yaml'), [
    'apiVersion: v1', 'kind: Pod', 'metadata:', '  name: web', '  namespace: default', 'spec:',
    '  terminationGracePeriodSeconds: 1', '  containers:', '  - name: web', `    image: ${IMAGE}`, '    imagePullPolicy: IfNotPresent',
    '    command: ["sh", "-c", "exec sleep 3600"]', '',
  ].join('\n'));
  // startAgent resolves only once the node is Ready, which needs the API server: let it wait.
  const starting = b().startAgent();
  starting.catch(() => undefined);
  const id = await b().waitFor(async () => b().containerId('default', `web-${NODE}`, 'web', { running: true }), {
    what: 'the static pod running with no API server', timeoutMs: 40_000,
  });
  assert.match(b().agentLog(), /API pods not listed yet|node not registered yet/);
  await relay!.restore();
  await starting;
  const mirror = await b().waitFor(async () => {
    const p = await b().pod('default', `web-${NODE}`);
    const ready = p?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    return p && p.status?.phase === 'Running' && ready ? p : undefined;
  }, { what: 'the mirror pod Running and Ready', timeoutMs: 60_000 }) as Pod;
  assert.ok(mirror.metadata.annotations?.['kubernetes.io/config.mirror'], 'a mirror pod');
  assert.equal(mirror.status?.containerStatuses?.[0]?.containerID, `docker://${id}`, 'the same container, not restarted');
  assert.equal(mirror.status?.containerStatuses?.[0]?.restartCount, 0);
});
