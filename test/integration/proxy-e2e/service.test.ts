// End to end through the whole daemon (`dockerlet run`): a 3-replica web Deployment behind
// ClusterIP and NodePort Services answers through the userspace proxy from the host (OUTPUT DNAT)
// and from inside a pod (PREROUTING REDIRECT), round-robins over every replica, drops a not-ready
// endpoint from the rotation, keeps ClientIP affinity, and refuses at once when no endpoint is left
// (REJECT in the filter table: ECONNREFUSED for TCP, and for UDP through ICMP). A UDP echo
// Deployment answers through its ClusterIP and NodePort.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  daemonBed, fetchText, getService, httpGet, IMAGE, mustGet, nodeInternalIP, ourRules, outsideClient, PREFIX, readyPods, removeOurRules, rulesSave, sh, sliceEndpoints, tally,
  webDeployment, webService,
  type DaemonBed,
} from './fixture.js';
import type { Bed } from '../agent/bed.js';
import { canListen } from '../../cluster/net.js';
import { udpAsk, udpDeployment, udpService } from './udp.js';

const NODE = 'dl-px-svc';
const NS = 'px-svc';
let d: DaemonBed | undefined;
const b = (): Bed => (d as DaemonBed).bed;
let names: string[] = [];
let podIPs = new Map<string, string>();
let clusterIP = '';

const fmt = (m: Map<string, number>) => [...m].map(([k, v]) => `${k}×${v}`).join(', ');

before(async () => {
  d = await daemonBed(NODE);
  await d.start();
  await b().kubectl(['create', 'namespace', NS]);
  await b().apply(webDeployment(NS, 'web', { replicas: 3 }));
  await b().apply(webService(NS, 'web', 'web'));
  await b().apply(JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: NS },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  }));
  const pods = await readyPods(b(), NS, 'web', 3, 150_000);
  names = pods.map((p) => p.metadata.name!).sort();
  podIPs = new Map(pods.map((p) => [p.metadata.name!, p.status!.podIP!]));
  clusterIP = (await getService(b(), NS, 'web')).spec.clusterIP!;
  assert.match(clusterIP, /^10\.96\.\d+\.\d+$/);
  // Converged: the slice lists the 3 ready pods, and the proxy (portal programmed, endpoints
  // synced at most once a second) reaches all of them.
  await b().waitFor(async () => [...(await sliceEndpoints(b(), NS, 'web')).values()].filter(Boolean).length === 3, { what: '3 ready endpoints in the slice', timeoutMs: 60_000 });
  await b().waitFor(async () => (await tally(clusterIP, 80, 6)).size === 3, { what: `all 3 replicas through http://${clusterIP}/`, timeoutMs: 60_000 });
}, { timeout: 300_000 });

after(async () => {
  await d?.bed.stop();
  await removeOurRules().catch(() => undefined);
}, { timeout: 120_000 });

test('ClusterIP from the host: every request answers and every replica is seen', { timeout: 60_000 }, async () => {
  const seen = await tally(clusterIP, 80, 30);
  assert.deepEqual([...seen.keys()].sort(), names, `replies: ${fmt(seen)}`);
  // Round robin in the one accepting relay: exactly the same share each.
  assert.deepEqual([...seen.values()], names.map(() => 30 / names.length), `replies: ${fmt(seen)}`);
});

test('ClusterIP from inside a pod (PREROUTING REDIRECT) answers with the replicas', { timeout: 60_000 }, async () => {
  await b().waitFor(async () => (await b().pod(NS, 'client'))?.status?.phase === 'Running', { what: 'client pod Running', timeoutMs: 60_000 });
  const out = await b().exec(NS, 'client', 'c', ['sh', '-c', `for i in 1 2 3 4 5 6 7 8 9; do timeout 10 wget -qO- http://${clusterIP}/ || echo FAIL; done`]);
  const lines = out.split('\n').map((l) => l.trim()).filter(Boolean);
  assert.equal(lines.length, 9, out);
  assert.ok(lines.every((l) => names.includes(l)), `replies: ${lines.join(' ')}`);
  assert.deepEqual([...new Set(lines)].sort(), names);
});

test('NodePort answers on 127.0.0.1 and on the node InternalIP from the host', { timeout: 60_000 }, async () => {
  await b().apply(webService(NS, 'web-np', 'web', { type: 'NodePort' }));
  const svc = await getService(b(), NS, 'web-np');
  const nodePort = svc.spec.ports?.[0]?.nodePort ?? 0;
  assert.ok(nodePort >= 30000 && nodePort <= 32767, `nodePort ${nodePort}`);
  const ip = await nodeInternalIP(b());
  const first = await b().waitFor(() => mustGet('127.0.0.1', nodePort), { what: `http://127.0.0.1:${nodePort}/`, timeoutMs: 30_000, intervalMs: 500 });
  assert.ok(names.includes(first), first);
  for (const host of ['127.0.0.1', ip]) {
    const seen = await tally(host, nodePort, 6);
    assert.deepEqual([...seen.keys()].sort(), names, `${host}:${nodePort} replies: ${fmt(seen)}`);
  }
  // Its ClusterIP is proxied too.
  assert.ok(names.includes(await mustGet(svc.spec.clusterIP!, 80)));
  // The daemon holds the NodePort open (claimNodePort): no other process can take it, until the Service goes.
  assert.equal(await canListen('0.0.0.0', nodePort), false, `${nodePort} is held`);
  await b().kubectl(['-n', NS, 'delete', 'service', 'web-np']);
  await b().waitFor(() => canListen('0.0.0.0', nodePort), { what: `${nodePort} released`, timeoutMs: 30_000, intervalMs: 250 });
});

test('an externalIP answers from the host and from a pod; a NodePort answers from a pod on the node IP', { timeout: 60_000 }, async () => {
  const extIP = '10.99.0.7'; // inside the egress-guarded service range: never leaves this host
  await b().apply(webService(NS, 'web-ext', 'web', { type: 'NodePort', externalIPs: [extIP] }));
  const nodePort = (await getService(b(), NS, 'web-ext')).spec.ports?.[0]?.nodePort ?? 0;
  await b().waitFor(() => mustGet(extIP, 80), { what: `http://${extIP}/`, timeoutMs: 30_000, intervalMs: 500 });
  const seen = await tally(extIP, 80, 6);
  assert.deepEqual([...seen.keys()].sort(), names, `replies: ${fmt(seen)}`);
  const nodeIP = await nodeInternalIP(b());
  const urls = [`http://${extIP}/`, `http://${nodeIP}:${nodePort}/`];
  const out = await b().exec(NS, 'client', 'c', ['sh', '-c', urls.map((u) => `timeout 10 wget -qO- ${u} || echo FAIL`).join('; ')]);
  const lines = out.split('\n').map((l) => l.trim()).filter(Boolean);
  assert.equal(lines.length, urls.length, out);
  assert.ok(lines.every((l) => names.includes(l)), `in-pod replies for ${urls.join(' ')}: ${lines.join(' ')}`);
});

test('externalTrafficPolicy Local: an outside client reaches only local endpoints (externalIP, LB ingress IP, NodePort), the node and its pods go cluster-wide, healthCheckNodePort counts local ones', { timeout: 120_000 }, async () => {
  // The "other node's" endpoint: a plain container serving "elsewhere", listed in a selector-less
  // Service's own EndpointSlice with another nodeName; the local one is a web pod of this node. A
  // network namespace on a veth pair is the client outside the node.
  const outside = await outsideClient();
  let other = '';
  try {
    other = (await sh('docker', ['run', '-d', '--rm', '--name', `${NODE}-elsewhere`, IMAGE, 'sh', '-c', 'mkdir -p /www && echo elsewhere > /www/index.html && exec httpd -f -p 8080 -h /www'])).trim();
    const otherIP = (await sh('docker', ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', other])).trim();
    const here = names[0]!;
    const extIP = '10.99.0.8';
    await b().apply(JSON.stringify({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'lb', namespace: NS },
      spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', externalIPs: [extIP], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    }));
    const slice = (localReady: boolean) => JSON.stringify({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'lb-manual', namespace: NS, labels: { 'kubernetes.io/service-name': 'lb' } },
      addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [
        { addresses: [podIPs.get(here)!], nodeName: NODE, conditions: { ready: localReady } },
        { addresses: [otherIP], nodeName: 'elsewhere', conditions: { ready: true } },
      ],
    });
    await b().apply(slice(true));
    const svc = await getService(b(), NS, 'lb');
    const nodePort = svc.spec.ports?.[0]?.nodePort ?? 0;
    const hcPort = svc.spec.healthCheckNodePort ?? 0;
    assert.ok(nodePort > 0 && hcPort > 0, `nodePort ${nodePort}, healthCheckNodePort ${hcPort}`);
    const both = [here, 'elsewhere'].sort();
    const health = async () => {
      const r = await fetch(`http://127.0.0.1:${hcPort}/healthz`, { signal: AbortSignal.timeout(5000) });
      return { status: r.status, body: JSON.parse(await r.text()) as { service: { namespace: string; name: string }; localEndpoints: number } };
    };
    await b().waitFor(async () => ((await health()).status === 200 ? true : undefined), { what: 'health check node port 200', timeoutMs: 30_000, intervalMs: 500 });
    assert.deepEqual((await health()).body.service, { namespace: NS, name: 'lb' });
    assert.equal((await health()).body.localEndpoints, 1);
    await b().waitFor(async () => ((await tally(extIP, 80, 4)).size === 2 ? true : undefined), { what: `both endpoints through http://${extIP}/ from the host`, timeoutMs: 30_000, intervalMs: 500 });
    // The node's own traffic to external destinations uses every endpoint (upstream's short-circuit).
    assert.deepEqual([...(await tally(svc.spec.clusterIP!, 80, 4)).keys()].sort(), both);
    assert.deepEqual([...(await tally('127.0.0.1', nodePort, 4)).keys()].sort(), both);
    const fromPod = async (urls: string[]) => (await b().exec(NS, 'client', 'c', ['sh', '-c', urls.map((u) => `timeout 3 wget -qO- ${u} || echo FAIL`).join('; ')]))
      .split('\n').map((l) => l.trim()).filter(Boolean);
    // A load balancer's ingress IP (as a cloud controller would set it) is an external address too.
    const lbIP = '10.99.0.9';
    await b().kubectl(['patch', 'service', '-n', NS, 'lb', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: lbIP }] } } })]);
    await b().waitFor(() => mustGet(lbIP, 80), { what: `http://${lbIP}/ (load balancer ingress IP)`, timeoutMs: 30_000, intervalMs: 500 });
    // A client outside the node only reaches this node's endpoint; a pod on the node's bridge goes cluster-wide.
    const ext = [`http://${extIP}/`, `http://${extIP}/`, `http://${lbIP}/`, `http://${lbIP}/`, `http://${await nodeInternalIP(b())}:${nodePort}/`];
    assert.deepEqual(await outside.wget(ext), ext.map(() => here));
    const podSaw = await fromPod([...ext, `http://${extIP}/`]);
    assert.deepEqual([...new Set(podSaw)].sort(), both, `pod replies: ${podSaw.join(' ')}`);

    // No local endpoint left: 503 with 0, external traffic from the pod is dropped, the node still reaches "elsewhere".
    await b().apply(slice(false));
    await b().waitFor(async () => ((await health()).status === 503 ? true : undefined), { what: 'health check node port 503', timeoutMs: 30_000, intervalMs: 500 });
    assert.equal((await health()).body.localEndpoints, 0);
    // The health servers follow the table before the rules are applied in the same sync: wait for the rule.
    const dropRule = new RegExp(`--comment "${NS}/lb:http/external has no local endpoints" .* -j DROP`);
    const refusals = () => sh('iptables', ['-w', '5', '-t', 'filter', '-S', `${PREFIX}-SERVICES`]);
    await b().waitFor(async () => (dropRule.test(await refusals()) ? true : undefined), { what: 'the DROP rule', timeoutMs: 15_000, intervalMs: 200 });
    assert.deepEqual(await outside.wget([`http://${extIP}/`]), ['FAIL']);
    assert.deepEqual(await fromPod([`http://${extIP}/`, `http://${lbIP}/`]), ['elsewhere', 'elsewhere']);
    assert.deepEqual([...(await tally(extIP, 80, 3)).keys()], ['elsewhere']);
  } finally {
    await outside.remove();
    if (other) await sh('docker', ['rm', '-f', other]).catch(() => undefined);
    await b().kubectl(['delete', 'service', '-n', NS, 'lb', '--ignore-not-found']).catch(() => undefined);
    await b().kubectl(['delete', 'endpointslice', '-n', NS, 'lb-manual', '--ignore-not-found']).catch(() => undefined);
  }
});

test('loadBalancerSourceRanges: the ingress IP answers a client inside a range; the node and pods outside it are dropped; the ClusterIP stays open; a range with the node IP lets the node in', { timeout: 120_000 }, async () => {
  const outside = await outsideClient();
  const lbIP = '10.99.0.10';
  try {
    await b().apply(webService(NS, 'fenced', 'web', { type: 'LoadBalancer', loadBalancerSourceRanges: ['198.18.250.0/30'] }));
    await b().kubectl(['patch', 'service', '-n', NS, 'fenced', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { loadBalancer: { ingress: [{ ip: lbIP }] } } })]);
    const fencedIP = (await getService(b(), NS, 'fenced')).spec.clusterIP!;
    const dropRule = new RegExp(`-A ${PREFIX}-FIREWALL -d ${lbIP.replace(/\./g, '\\.')}/32 -p tcp .*"${NS}/fenced:http traffic not accepted by loadBalancerSourceRanges" .*--dport 80 -j DROP`);
    const firewall = () => sh('iptables', ['-w', '5', '-t', 'filter', '-S', `${PREFIX}-FIREWALL`]);
    await b().waitFor(async () => (dropRule.test(await firewall()) ? true : undefined), { what: 'the firewall rule', timeoutMs: 30_000, intervalMs: 300 });
    // Inside the range: the outside client reaches the replicas through the ingress IP.
    const seen = await outside.wget([1, 2, 3, 4].map(() => `http://${lbIP}/`));
    assert.ok(seen.every((r) => names.includes(r)), `outside client through ${lbIP}: ${seen.join(' ')}`);
    // Outside it: the node (its source is its own address) and a pod get nothing.
    const fromHost = await httpGet(lbIP, 80, 3000);
    assert.equal(fromHost.ok, false, `the node through ${lbIP}: ${JSON.stringify(fromHost)}`);
    const fromPod = await b().exec(NS, 'client', 'c', ['sh', '-c', `timeout 3 wget -qO- http://${lbIP}/ || echo FAIL`]);
    assert.equal(fromPod.trim(), 'FAIL');
    // The firewall is for the load balancer's address only.
    assert.ok(names.includes(await mustGet(fencedIP, 80)));
    // A range holding the node's address lets the node use the ingress IP.
    const nodeIP = await sh('ip', ['-4', '-o', 'route', 'get', lbIP]).then((r) => / src (\S+)/.exec(r)?.[1] ?? '');
    assert.ok(nodeIP, 'the source address of the route to the ingress IP');
    await b().kubectl(['patch', 'service', '-n', NS, 'fenced', '--type=merge', '-p', JSON.stringify({ spec: { loadBalancerSourceRanges: ['198.18.250.0/30', `${nodeIP}/32`] } })]);
    await b().waitFor(async () => ((await httpGet(lbIP, 80, 2000)).ok ? true : undefined), { what: `the node through ${lbIP} once its address is in range`, timeoutMs: 30_000, intervalMs: 500 });
    assert.ok(names.includes(await mustGet(lbIP, 80)));
  } finally {
    await outside.remove();
    await b().kubectl(['delete', 'service', '-n', NS, 'fenced', '--ignore-not-found']).catch(() => undefined);
  }
});

test('an endpoint whose readiness fails leaves the rotation, and comes back when ready', { timeout: 120_000 }, async () => {
  const victim = names[0]!;
  const others = names.filter((n) => n !== victim);
  const onlyOthers = (seen: Map<string, number>) => [...seen.keys()].every((k) => others.includes(k));
  await b().exec(NS, victim, 'web', ['rm', '/www/index.html']);
  try {
    await b().waitFor(async () => (await sliceEndpoints(b(), NS, 'web')).get(podIPs.get(victim)!) === false,
      { what: `EndpointSlice shows ${victim} not ready`, timeoutMs: 60_000 });
    // The proxy syncs at most once a second: within a bounded number of rounds the victim stops
    // answering (it answers 404 while in the rotation, so a round must hold nothing but the others).
    let seen = new Map<string, number>();
    for (let round = 0; round < 10; round++) {
      seen = await tally(clusterIP, 80, 12);
      if (onlyOthers(seen)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(onlyOthers(seen), `not-ready ${victim} still in the rotation: ${fmt(seen)}`);
    const final = await tally(clusterIP, 80, 30);
    assert.deepEqual([...final.keys()].sort(), others, `replies: ${fmt(final)}`);
  } finally {
    // Restored even when an assertion above failed, so the next tests see three ready pods.
    await b().exec(NS, victim, 'web', ['sh', '-c', 'hostname > /www/index.html']);
  }
  await b().waitFor(async () => (await sliceEndpoints(b(), NS, 'web')).get(podIPs.get(victim)!) === true,
    { what: `EndpointSlice shows ${victim} ready again`, timeoutMs: 60_000 });
  await b().waitFor(async () => (await tally(clusterIP, 80, 6)).has(victim), { what: `${victim} back in the rotation`, timeoutMs: 30_000 });
});

test('an EndpointSlice written directly (selector-less Service): new endpoints serve at once with no rules change, and its programming latency is observed', { timeout: 90_000 }, async () => {
  const [first, second] = [names[0]!, names[1]!];
  const slice = (pod: string) => JSON.stringify({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      name: 'direct-manual', namespace: NS, labels: { 'kubernetes.io/service-name': 'direct' },
      annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': new Date().toISOString() },
    },
    addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [{ addresses: [podIPs.get(pod)!], conditions: { ready: true } }],
  });
  const programmed = async () => Number(/^kubeproxy_network_programming_duration_seconds_count (\d+)$/m.exec((await fetchText(`http://127.0.0.1:${d!.metricsPort}/metrics`)).text)?.[1] ?? NaN);
  try {
    await b().apply(JSON.stringify({
      apiVersion: 'v1', kind: 'Service', metadata: { name: 'direct', namespace: NS },
      spec: { ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    }));
    await b().apply(slice(first));
    const ip = (await getService(b(), NS, 'direct')).spec.clusterIP!;
    await b().waitFor(async () => (await mustGet(ip, 80).catch(() => '')) === first || undefined, { what: `${first} through http://${ip}/`, timeoutMs: 30_000, intervalMs: 250 });
    const rules = ourRules(await rulesSave()).serviceRules;
    const before = await programmed();
    assert.ok(Number.isFinite(before), 'the metric is exported');
    await b().apply(slice(second));
    await b().waitFor(async () => (await mustGet(ip, 80).catch(() => '')) === second || undefined, { what: `${second} through http://${ip}/`, timeoutMs: 30_000, intervalMs: 100 });
    assert.deepEqual([...(await tally(ip, 80, 4)).keys()], [second], 'only the new endpoint');
    assert.deepEqual(ourRules(await rulesSave()).serviceRules, rules, 'an endpoint change writes no rule');
    assert.ok((await programmed()) > before, 'kubeproxy_network_programming_duration_seconds observed the change');
  } finally {
    await b().kubectl(['delete', 'service', '-n', NS, 'direct', '--ignore-not-found']).catch(() => undefined);
    await b().kubectl(['delete', 'endpointslice', '-n', NS, 'direct-manual', '--ignore-not-found']).catch(() => undefined);
  }
});

test('sessionAffinity ClientIP: every request of one client lands on one pod', { timeout: 60_000 }, async () => {
  await b().apply(webService(NS, 'web-sticky', 'web', { sessionAffinity: 'ClientIP' }));
  const ip = (await getService(b(), NS, 'web-sticky')).spec.clusterIP!;
  await b().waitFor(() => mustGet(ip, 80), { what: `http://${ip}/ (sticky)`, timeoutMs: 30_000, intervalMs: 500 });
  const seen = await tally(ip, 80, 30);
  assert.equal(seen.size, 1, `replies: ${fmt(seen)}`);
  assert.ok(names.includes([...seen.keys()][0]!), fmt(seen));
  // The non-sticky service still spreads.
  assert.equal((await tally(clusterIP, 80, 9)).size, 3);
});

test('UDP: ClusterIP and NodePort reach both replicas, one session per client; scaled to 0 → ECONNREFUSED (ICMP) at once', { timeout: 180_000 }, async () => {
  await b().apply(udpDeployment(NS, 'echo', 2));
  await b().apply(udpService(NS, 'echo', 'echo'));
  const echoNames = (await readyPods(b(), NS, 'echo', 2, 120_000)).map((p) => p.metadata.name!).sort();
  const svc = await getService(b(), NS, 'echo');
  const ip = svc.spec.clusterIP!;
  const nodePort = svc.spec.ports?.[0]?.nodePort ?? 0;
  assert.ok(nodePort > 0, 'a node port was allocated');
  await b().waitFor(async () => [...(await sliceEndpoints(b(), NS, 'echo')).values()].filter(Boolean).length === 2, { what: '2 ready echo endpoints', timeoutMs: 60_000 });
  // Until the proxy has synced both endpoints, a new client may land on a single one: wait for both.
  await b().waitFor(async () => {
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await udpAsk(ip, 53, 'ping'));
    if (got.every((r) => r.ok) && new Set(got.map((r) => (r.ok ? r.from : ''))).size === 2) return true;
    throw new Error(`replies: ${JSON.stringify(got)}`);
  }, { what: `both echo pods through udp://${ip}:53`, timeoutMs: 60_000, intervalMs: 500 });
  // Every new client socket is a new session: round robin alternates between the two pods.
  const seen = new Map<string, number>();
  for (let i = 0; i < 6; i++) {
    const r = await udpAsk(ip, 53, `q${i}`);
    assert.ok(r.ok, `query ${i}: ${r.ok ? '' : r.code}`);
    if (r.ok) {
      assert.equal(r.text, `q${i}`);
      seen.set(r.from, (seen.get(r.from) ?? 0) + 1);
    }
  }
  assert.deepEqual([...seen.keys()].sort(), echoNames, fmt(seen));
  // Strictly alternating unless a client port was reused within the session timeout (then it sticks).
  assert.ok([...seen.values()].every((n) => n >= 2), fmt(seen));
  for (const host of ['127.0.0.1', await nodeInternalIP(b())]) {
    const viaNodePort = await udpAsk(host, nodePort, 'np');
    assert.ok(viaNodePort.ok && echoNames.includes(viaNodePort.from) && viaNodePort.text === 'np', `udp://${host}:${nodePort}: ${JSON.stringify(viaNodePort)}`);
  }
  // From inside a pod (PREROUTING REDIRECT): the reply comes back from the ClusterIP.
  const inPod = (await b().exec(NS, echoNames[0]!, 'echo', ['/udpecho', 'ask', ip, '53', 'inpod'])).trim();
  assert.ok(echoNames.some((n) => inPod === `${n} inpod`), `in-pod reply: ${inPod}`);

  await b().kubectl(['scale', 'deployment', 'echo', '-n', NS, '--replicas=0']);
  await b().waitFor(async () => (await sliceEndpoints(b(), NS, 'echo')).size === 0, { what: 'no echo endpoints left', timeoutMs: 60_000 });
  await b().waitFor(async () => {
    const r = await udpAsk(ip, 53, 'x', 2000);
    return !r.ok && r.code === 'ECONNREFUSED' ? true : undefined;
  }, { what: 'ECONNREFUSED from the UDP ClusterIP', timeoutMs: 30_000, intervalMs: 500 });
  const refusals = await sh('iptables', ['-w', '5', '-t', 'filter', '-S', `${PREFIX}-SERVICES`]);
  assert.match(refusals, new RegExp(`-p udp -m comment --comment "${NS}/echo:dns has no endpoints" -m udp --dport \\d+ -j REJECT`), refusals);
  for (const [host, port] of [[ip, 53], ['127.0.0.1', nodePort]] as const) {
    assert.deepEqual(await udpAsk(host, port, 'x', 3000), { ok: false, code: 'ECONNREFUSED' }, `udp://${host}:${port}`);
  }
});

test('scaled to 0: a new connection is refused at once (ECONNREFUSED), not left hanging', { timeout: 120_000 }, async () => {
  await b().kubectl(['scale', 'deployment', 'web', '-n', NS, '--replicas=0']);
  await b().waitFor(async () => (await sliceEndpoints(b(), NS, 'web')).size === 0, { what: 'no endpoints left in the slice', timeoutMs: 60_000 });
  // Between the listener learning of it and the filter rule being in place, the listener resets.
  await b().waitFor(async () => {
    const r = await httpGet(clusterIP, 80, 8000);
    return !r.ok && r.code === 'ECONNREFUSED' ? true : undefined;
  }, { what: 'the ClusterIP refuses', timeoutMs: 30_000, intervalMs: 500 });
  for (let i = 0; i < 5; i++) {
    const r = await httpGet(clusterIP, 80, 8000);
    assert.deepEqual(r, { ok: false, code: 'ECONNREFUSED' }, `attempt ${i} (not a timeout, not a reply)`);
  }
});
