// Shared helpers for the kube/ integration tests (real control plane from test/cluster/harness.ts).
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { silentLogger } from '../../../lib/log.js';
import type { KubeObject, Pod } from '../../../kube/api.js';
import { createKubeClient, type DockerletKubeClient, type KubeClientOptions, type WatchTransport } from '../../../kube/client.js';
import { isAlreadyExists } from '../../../kube/errors.js';
import { loadKubeconfig } from '../../../kube/kubeconfig.js';
import type { KubeClient } from '../../../kube/types.js';

export const NS = 'default';
export const PODS = `/api/v1/namespaces/${NS}/pods`;

/** A client that records the socket of every watch stream so a test can cut it. */
export function tappedClient(kubeconfigPath: string, opts: KubeClientOptions = {}): {
  client: DockerletKubeClient; sockets: { socket: Socket; transport: WatchTransport }[];
} {
  const sockets: { socket: Socket; transport: WatchTransport }[] = [];
  const client = createKubeClient(loadKubeconfig(kubeconfigPath), {
    log: silentLogger(), ...opts, onWatchSocket: (socket, transport) => sockets.push({ socket, transport }),
  });
  return { client, sockets };
}

export function podBody(name: string, nodeName: string, labels: Record<string, string> = {}): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, labels },
    spec: { nodeName, containers: [{ name: 'c', image: 'dockerlet/busybox:1.36' }], terminationGracePeriodSeconds: 0 },
  };
}

/** Registers a Node object so the pod GC does not treat the test's pods as orphans. */
export async function ensureNode(admin: KubeClient, name: string): Promise<void> {
  try {
    await admin.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name } });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

export async function deletePod(admin: KubeClient, name: string): Promise<Pod> {
  return admin.delete<Pod>(`${PODS}/${name}`, { query: { gracePeriodSeconds: 0 } });
}

/** Polls cond every 100 ms until it holds or timeoutMs passes (then fails the test with `what`). */
export async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** name@resourceVersion of every object, sorted: a store/list fingerprint. */
export function fingerprint(objs: readonly KubeObject[]): string[] {
  return objs.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}@${o.metadata.resourceVersion}`).sort();
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
