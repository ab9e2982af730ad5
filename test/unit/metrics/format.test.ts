import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { agentMetricsText, collectProcessMetrics, dropLintFailures } from '../../../metrics/agent-metrics.js';
import { formatCadvisor } from '../../../metrics/format/cadvisor.js';
import { formatResource } from '../../../metrics/format/resource.js';
import { buildSummary } from '../../../metrics/format/summary.js';
import { escapeLabel } from '../../../metrics/format/text.js';
import { snapshot, T } from './snapshot.js';
import { Summary } from './summary-schema.js';

/** promtool's verdict, or undefined when promtool is not installed (apt-get install prometheus). */
function promtool(text: string): { ok: boolean; out: string } | undefined {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) return undefined;
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

function lines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

test('/metrics/cadvisor: kubelet labels on container, pod ("" container) and node ("/") series', () => {
  const text = formatCadvisor(snapshot(), { mode: 'kubelet' });
  const cpu = lines(text, 'container_cpu_usage_seconds_total');
  assert.ok(cpu.includes(`container_cpu_usage_seconds_total{container="app",id="/docker/c1",image="dockerlet/busybox:1.36",name="k8s_app_web_default_uid-1_0",namespace="default",pod="web",cpu="total"} 30 ${T}`), cpu.join('\n'));
  assert.ok(cpu.some((l) => l.startsWith('container_cpu_usage_seconds_total{container="",id="/kubepods/poduid-1",image="",name="",namespace="default",pod="web",cpu="total"} 30.1 ')), 'pod = sum of its containers');
  assert.ok(cpu.some((l) => l.startsWith('container_cpu_usage_seconds_total{container="",id="/",image="",name="",namespace="",pod="",cpu="total"} 1000 ')));
  assert.ok(cpu.some((l) => l.includes('container="POD"')), 'the sandbox is container POD');
  const rx = lines(text, 'container_network_receive_bytes_total');
  assert.ok(rx.some((l) => l.includes('container="",id="/kubepods/poduid-1"') && l.includes('interface="eth0"} 5000 ')), 'pod network = the sandbox netns');
  assert.equal(rx.filter((l) => l.includes('container="app"')).length, 0, 'a container in the sandbox netns has no network series');
  const periods = lines(text, 'container_cpu_cfs_periods_total');
  assert.ok(periods.length >= 1 && periods.every((l) => l.includes('container="app"') || l.includes('container=""')), 'CFS series only with a quota');
  assert.ok(lines(text, 'container_oom_events_total').some((l) => l.includes('container="app"') && / 2 \d+$/.test(l)));
  assert.ok(lines(text, 'container_spec_cpu_quota').every((l) => !l.includes('id="/docker/d1"')), 'no quota → no spec_cpu_quota series');
  assert.ok(lines(text, 'container_last_seen').every((l) => l.includes(` ${Math.floor(T / 1000)} `)), 'last seen = collection time');
  assert.ok(lines(text, 'machine_cpu_cores').some((l) => l.endsWith('} 2')));
  assert.ok(lines(text, 'container_fs_reads_bytes_total').some((l) => l.includes('device="/dev/sda"')));
  const lint = promtool(text);
  if (lint) assert.ok(lint.ok, lint.out);
});

test('standalone /metrics: cAdvisor default labels with container_label_* (union, escaped)', () => {
  const text = formatCadvisor(snapshot(), { mode: 'docker', timestamps: false });
  const ws = lines(text, 'container_memory_working_set_bytes');
  assert.ok(ws.includes('container_memory_working_set_bytes{container_label_com_example_tier="db",container_label_io_kubernetes_pod_name="",container_label_quote_label="",id="/docker/d1",image="dockerlet/busybox:1.36",name="plain"} 1048576'), ws.join('\n'));
  assert.ok(ws.some((l) => l.includes(`container_label_quote_label="${escapeLabel('a"b')}"`)));
  assert.equal(ws.filter((l) => l.includes('/kubepods/')).length, 0, 'no pod series on a plain Docker host');
  const snap = snapshot();
  Object.assign(snap.containers[2]!.meta!.labels, { 'app.kubernetes.io/managedBy': 'x', 'a.b': '1', 'a_b': '2' });
  const camel = formatCadvisor(snap, { mode: 'docker' });
  assert.ok(camel.includes('container_label_app_kubernetes_io_managed_by="x"'), 'camelCase Docker labels become snake_case label names');
  assert.ok(camel.includes('container_label_a_b="1"') && !camel.includes('container_label_a_b="2"'), 'sanitized twins: the first wins');
  const camelLint = promtool(camel);
  if (camelLint) assert.ok(camelLint.ok, camelLint.out);
  const none = formatCadvisor(snapshot(), { mode: 'docker', containerLabels: 'none' });
  assert.ok(!none.includes('container_label_'));
  const lint = promtool(text);
  if (lint) assert.ok(lint.ok, lint.out);
});

test('/metrics/resource: the stable names metrics-server reads, sandboxes excluded', () => {
  const text = formatResource(snapshot());
  assert.deepEqual(lines(text, 'container_cpu_usage_seconds_total'), [`container_cpu_usage_seconds_total{container="app",namespace="default",pod="web"} 30 ${T}`]);
  assert.deepEqual(lines(text, 'node_memory_working_set_bytes'), [`node_memory_working_set_bytes ${(1 << 30) / 2} ${T}`]);
  assert.equal(lines(text, 'pod_cpu_usage_seconds_total').length, 1);
  assert.equal(lines(text, 'container_start_time_seconds')[0], `container_start_time_seconds{container="app",namespace="default",pod="web"} ${(T - 50_000) / 1000}`);
  const lint = promtool(text);
  if (lint) assert.ok(lint.ok, lint.out);
});

test('/stats/summary validates against the stats/v1alpha1 types; sandboxes are not containers', () => {
  const s = Summary.parse(buildSummary(snapshot(), { nodeName: 'node-a' }));
  assert.equal(s.node.nodeName, 'node-a');
  assert.equal(s.node.memory?.availableBytes, 24 * 2 ** 30 - (1 << 30) / 2);
  assert.equal(s.pods.length, 1);
  assert.deepEqual(s.pods[0]!.containers.map((c) => c.name), ['app']);
  assert.equal(s.pods[0]!.containers[0]!.cpu?.usageNanoCores, 500_000_000);
  assert.equal(s.pods[0]!.network?.rxBytes, 5000);
  assert.equal(s.node.runtime?.imageFs?.capacityBytes, 100e9);
  const only = Summary.parse(buildSummary(snapshot(), { nodeName: 'node-a', onlyCpuAndMemory: true }));
  assert.equal(only.node.network, undefined);
  assert.equal(only.pods[0]!.network, undefined);
});

test("the agent's /metrics passes promtool without prom-client's *_total gauges", async () => {
  collectProcessMetrics();
  const text = await agentMetricsText();
  assert.ok(text.includes('process_cpu_seconds_total'));
  assert.ok(!text.includes('nodejs_active_handles_total'));
  assert.equal(dropLintFailures('# HELP nodejs_active_requests_total x\n# TYPE nodejs_active_requests_total gauge\nnodejs_active_requests_total 1\nkeep 1'), 'keep 1');
  const lint = promtool(text);
  if (lint) assert.ok(lint.ok, lint.out);
});
