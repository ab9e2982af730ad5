// Assembles the kubelet API server from the agent's parts (what pkg/kubelet/server.NewServer gets
// from the Kubelet as HostInterface): the gate from the effective auth settings, the pod lookup over
// Docker labels, Docker logs, /pods from the pod records with the status the agent computed,
// /runningpods/ from the runtime, /configz as a KubeletConfiguration, the syncloop health check.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Pod, PodStatus } from '../../kube/api.js';
import type { KubeClient } from '../../kube/types.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/log.js';
import { DockerLogs } from '../../runtime/docker/logs.js';
import type { ObservedContainer } from '../../runtime/types.js';
import type { EffectiveServerConfig } from './config.js';
import { ServingCertBootstrap } from './cert-bootstrap.js';
import { Gate } from './gate.js';
import { KubeletServer } from './kubelet-server.js';
import { DockerPodLookup, type KnownPod } from './lookup.js';
import { kubeReviewClient } from './reviews.js';
import type { HealthCheck } from './routes/healthz.js';
import type { RoutePlugin } from './types.js';

export interface KubeletServerParts {
  server: EffectiveServerConfig;
  nodeName: string;
  rootDir: string;
  port: number;
  dockerEndpoint: string;
  /** The node's addresses the self-signed certificate must name. */
  hostIPs: string[];
  client?: KubeClient;
  listContainers(): Promise<ObservedContainer[]>;
  pods(): readonly KnownPod[];
  status(uid: string): PodStatus | undefined;
  /** How many relists (PLEG) the pod controller has done: the sync loop's heartbeat. */
  relists(): number;
  configz(): Record<string, unknown>;
  plugins: readonly RoutePlugin[];
  readOnlyPlugins?: readonly RoutePlugin[];
  clock: Clock;
  log: Logger;
}

/** Upstream syncLoopHealthCheck: unhealthy when the loop has not turned for this long. */
const SYNC_LOOP_STALL_MS = 2 * 60_000;

function syncLoopCheck(relists: () => number, clock: Clock): HealthCheck {
  let last = relists();
  let at = clock.now();
  return {
    name: 'syncloop',
    check() {
      const n = relists();
      if (n !== last) {
        last = n;
        at = clock.now();
        return undefined;
      }
      const idle = clock.now() - at;
      return idle > SYNC_LOOP_STALL_MS ? `sync loop took longer than expected (${Math.round(idle / 1000)} s without a relist)` : undefined;
    },
  };
}

/** kubecontainer.Pod.ToAPIPod for the pods that have something running. */
export function runningPodsFrom(all: readonly ObservedContainer[]): Pod[] {
  const byUid = new Map<string, Pod>();
  for (const c of all) {
    if (c.state !== 'running') continue;
    let p = byUid.get(c.podUid);
    if (!p) {
      p = { metadata: { name: c.podName, namespace: c.podNamespace, uid: c.podUid }, spec: { containers: [] } };
      byUid.set(c.podUid, p);
    }
    if (c.kind !== 'sandbox') p.spec.containers.push({ name: c.containerName, image: c.image });
  }
  return [...byUid.values()];
}

/** The server, plus the certificate bootstrap when serverTLSBootstrap is on (start it after the server). */
export function createKubeletServer(parts: KubeletServerParts): { server: KubeletServer; bootstrap?: ServingCertBootstrap } {
  const s = parts.server;
  const dockerLogs = new DockerLogs({ socketPath: parts.dockerEndpoint });
  const gate = new Gate({
    nodeName: parts.nodeName,
    x509: Boolean(s.clientCAFile),
    webhook: s.webhook,
    anonymous: s.anonymous,
    authorization: s.authorization,
    ...(parts.client ? { reviews: kubeReviewClient(parts.client) } : {}),
    clock: parts.clock,
    log: parts.log,
    tokenCacheTtlMs: s.tokenCacheTtlMs,
    authorizedTtlMs: s.authorizedTtlMs,
    unauthorizedTtlMs: s.unauthorizedTtlMs,
  });
  const lookup = new DockerPodLookup({
    listContainers: parts.listContainers,
    pods: parts.pods,
    status: parts.status,
    tty: (id) => dockerLogs.tty(id),
  });
  const host = hostname().toLowerCase();
  const sans = [...new Set([parts.nodeName, host, 'localhost', ...parts.hostIPs, '127.0.0.1'])];
  const server = new KubeletServer(
    {
      address: s.address,
      port: parts.port,
      readOnlyPort: s.readOnlyPort,
      ...(s.tlsCertFile ? { tlsCertFile: s.tlsCertFile } : {}),
      ...(s.tlsPrivateKeyFile ? { tlsPrivateKeyFile: s.tlsPrivateKeyFile } : {}),
      ...(s.clientCAFile ? { clientCAFile: s.clientCAFile } : {}),
      certDir: join(parts.rootDir, 'pki'),
      sans,
      host,
      clock: parts.clock,
      log: parts.log,
      ...(parts.readOnlyPlugins ? { readOnlyPlugins: parts.readOnlyPlugins } : {}),
    },
    {
      gate: gate.check,
      lookup,
      logs: dockerLogs,
      pods: () => parts.pods().map((k) => {
        const status = parts.status(k.uid);
        return status ? { ...k.pod, status } : k.pod;
      }),
      runningPods: async () => runningPodsFrom(await parts.listContainers()),
      configz: parts.configz,
      healthChecks: [syncLoopCheck(parts.relists, parts.clock)],
      plugins: parts.plugins,
      clock: parts.clock,
      log: parts.log,
    },
  );
  if (!s.serverTLSBootstrap || !parts.client) return { server };
  const bootstrap = new ServingCertBootstrap({
    client: parts.client, nodeName: parts.nodeName, sans: sans.filter((n) => n !== 'localhost' && n !== '127.0.0.1'),
    certDir: join(parts.rootDir, 'pki'), clock: parts.clock, log: parts.log,
    onCertificate: (pair) => server.replaceCertificate(pair.certPem, pair.keyPem),
  });
  return { server, bootstrap };
}
