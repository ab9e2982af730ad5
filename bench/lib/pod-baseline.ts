// The raw-Docker baseline: the same sandbox + app container pairs the agent creates (built with the
// agent's own pure spec builders and the runtime's create-option translators), made directly through
// the Engine API with a fixed parallelism. Names/labels are changed so no agent adopts or collects them.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type Dockerode from 'dockerode';
import type { Pod } from '../../kube/api.js';
import { buildContainerCreateSpec, buildSandboxSpec } from '../../agent/containers/container.js';
import { readHostResolvConf } from '../../agent/containers/dns.js';
import { podCgroupParent } from '../../agent/containers/cgroups.js';
import { hasCapSysResource, removeEmptyCgroups } from '../../runtime/docker/runtime.js';
import { containerCreateOptions, sandboxCreateOptions } from '../../runtime/docker/specs.js';
import { DEFAULT_CLUSTER_DNS_IP } from '../../test/cluster/dns.js';
import { dist, mapLimit, type Dist } from './pod-timeline.js';

export const BASELINE_LABEL = 'io.dockerlet.bench';
/** Per bench process, so a concurrent run's cleanup never removes this one's containers. */
export const BASELINE_VALUE = `pod-startup-baseline-${randomUUID().slice(0, 8)}`;

const KUBERNETES_ENV = [
  ['KUBERNETES_SERVICE_HOST', '10.96.0.1'], ['KUBERNETES_SERVICE_PORT', '443'], ['KUBERNETES_SERVICE_PORT_HTTPS', '443'],
  ['KUBERNETES_PORT', 'tcp://10.96.0.1:443'], ['KUBERNETES_PORT_443_TCP', 'tcp://10.96.0.1:443'],
  ['KUBERNETES_PORT_443_TCP_PROTO', 'tcp'], ['KUBERNETES_PORT_443_TCP_PORT', '443'], ['KUBERNETES_PORT_443_TCP_ADDR', '10.96.0.1'],
] as const;

export interface BaselineOptions {
  count: number;
  parallelism: number;
  pauseImage: string;
  image: string;
  /** Scratch dir for the per-pod token dir and termination-log file (prepared before timing). */
  dir: string;
  /** A pod as the bench creates it (name/uid are replaced per baseline pod). */
  template: Pod;
  /** Told when pair i begins and when its app container has started (the decoy kubelet); must not block. */
  hooks?: PairHooks;
}

export interface PairHooks {
  pairBegins(i: number): void;
  pairStarted(i: number, ids: { sandboxId: string; appId: string }): void;
}

export interface BaselineResult {
  parallelism: number;
  seconds: number;
  failures: number;
  firstError?: string;
  /** Per pod: the sum of its four create/start call durations (s). */
  perPodDocker?: Dist;
}

interface Prepared {
  sandbox: Dockerode.ContainerCreateOptions;
  app: (sandboxId: string) => Dockerode.ContainerCreateOptions;
}

function relabel(o: Dockerode.ContainerCreateOptions, name: string, oomFloor: number): Dockerode.ContainerCreateOptions {
  const labels = { ...(o.Labels ?? {}) };
  delete labels['io.kubernetes.pod.uid'];
  delete labels['io.kubernetes.pod.namespace'];
  labels[BASELINE_LABEL] = BASELINE_VALUE;
  const host = { ...(o.HostConfig ?? {}) };
  if (host.OomScoreAdj !== undefined && host.OomScoreAdj < oomFloor) host.OomScoreAdj = oomFloor; // as the runtime's clamp
  return { ...o, name, Labels: labels, HostConfig: host };
}

/** The pod cgroups the baseline's sandboxes made (Docker never removes a container's cgroup parent). */
const baselineCgroups = new Set<string>();

async function prepare(o: BaselineOptions, i: number, run: string, oomFloor: number, hostDNS: Awaited<ReturnType<typeof readHostResolvConf>>): Promise<Prepared> {
  const uid = randomUUID();
  const pod: Pod = { ...o.template, metadata: { ...o.template.metadata, name: `base-${i}`, uid } };
  baselineCgroups.add(podCgroupParent(pod));
  const podDir = join(o.dir, uid);
  const tokenDir = join(podDir, 'token');
  const tm = join(podDir, 'termination-log');
  await mkdir(tokenDir, { recursive: true });
  await writeFile(join(tokenDir, 'token'), 'x'.repeat(900));
  await writeFile(tm, '', { mode: 0o666 });
  const sandbox = relabel(sandboxCreateOptions(buildSandboxSpec(pod, o.pauseImage, { attempt: 0, clusterDNS: [DEFAULT_CLUSTER_DNS_IP], clusterDomain: 'cluster.local', ...(hostDNS ? { hostDNS } : {}) })), `dlbench_${run}_${i}_POD`, oomFloor);
  const c = pod.spec.containers[0]!;
  const app = (sandboxId: string) => relabel(containerCreateOptions(buildContainerCreateSpec({
    pod, container: c, kind: 'container', sandboxId, attempt: 0, restartCount: 0,
    env: KUBERNETES_ENV.map(([name, value]) => ({ name, value })),
    mounts: [{ hostPath: tokenDir, containerPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    memoryCapacityBytes: 24 * 1024 ** 3, terminationMessageHostPath: tm, image: o.image,
  })), `dlbench_${run}_${i}_app`, oomFloor);
  return { sandbox, app };
}

/** Creates count pairs with the given parallelism; returns the wall-clock seconds (files prepared first). */
export async function runBaseline(docker: Dockerode, o: BaselineOptions): Promise<BaselineResult> {
  const run = randomUUID().slice(0, 8);
  const oomFloor = hasCapSysResource() ? -1000 : 0;
  const hostDNS = await readHostResolvConf();
  const prepared = await Promise.all(Array.from({ length: o.count }, (_, i) => prepare(o, i, run, oomFloor, hostDNS)));
  let failures = 0;
  let firstError: string | undefined;
  const inCall: number[] = [];
  const t0 = performance.now();
  await mapLimit(prepared, o.parallelism, async (p, i) => {
    let ms = 0;
    const timed = async <T>(f: () => Promise<T>): Promise<T> => {
      const s = performance.now();
      try {
        return await f();
      } finally {
        ms += performance.now() - s;
      }
    };
    try {
      o.hooks?.pairBegins(i);
      const sb = await timed(() => docker.createContainer(p.sandbox));
      await timed(() => sb.start());
      const app = await timed(() => docker.createContainer(p.app(sb.id)));
      await timed(() => app.start());
      o.hooks?.pairStarted(i, { sandboxId: sb.id, appId: app.id });
      inCall.push(ms);
    } catch (err) {
      failures++;
      firstError ??= (err as Error).message;
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  return { parallelism: o.parallelism, seconds: Math.round(seconds * 1000) / 1000, failures, ...(firstError ? { firstError } : {}), perPodDocker: dist(inCall) };
}

/** Force-removes every baseline container (app containers first, then sandboxes). */
export async function removeBaselineContainers(docker: Dockerode): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${BASELINE_LABEL}=${BASELINE_VALUE}`] } });
  const isSandbox = (c: Dockerode.ContainerInfo) => c.Names.some((n) => n.endsWith('_POD'));
  for (const pass of [list.filter((c) => !isSandbox(c)), list.filter(isSandbox)]) {
    await mapLimit(pass, 8, (c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined));
  }
  // Their pod cgroups too, as the agent removes its pods' (left behind, thousands slow every cgroup read).
  const rels = [...baselineCgroups];
  if (await removeEmptyCgroups(rels)) baselineCgroups.clear();
  return list.length;
}
