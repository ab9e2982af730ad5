// kubeadm's token-based discovery (cmd/kubeadm/app/discovery/token): read kube-public/cluster-info
// anonymously over TLS that verifies nothing yet, check its kubeconfig against the token's JWS
// signature and the CA against the pinned public-key hashes, then read it again over TLS pinned to
// that CA and require the same content. The result: the API server URL and its CA, trusted.
import { parse as parseYaml } from 'yaml';
import { DockerletError, ErrorCodes, errorMessage } from '../../lib/errors.js';
import { sleepFor, systemClock } from '../../lib/clock.js';
import { parseCertBundle, publicKeyPinHash } from '../certificates/csr.js';
import { createKubeClient } from '../client.js';
import type { KubeConnection } from '../connection.js';
import { detachedSignatureValid, JWS_KEY_PREFIX, type BootstrapToken } from './token.js';

export const CLUSTER_INFO_PATH = '/api/v1/namespaces/kube-public/configmaps/cluster-info';

export interface DiscoveryOptions {
  /** The address to ask first (https://host:port). */
  server: string;
  token: BootstrapToken;
  /** "sha256:<hex>" pins; at least one must match a CA in cluster-info. */
  caCertHashes: readonly string[];
  /** Keep retrying (the bootstrapsigner may not have signed yet) until this many ms; default 5 min as kubeadm. */
  timeoutMs?: number;
  signal?: AbortSignal;
  onRetry?: (err: Error) => void;
}

export interface DiscoveredCluster {
  /** The server named in cluster-info (what the node will use from now on). */
  server: string;
  caPem: string;
}

interface ConfigMap {
  data?: Record<string, string>;
}

const HASH = /^sha256:[0-9a-f]{64}$/;

function fail(msg: string, details: Record<string, unknown> = {}): never {
  throw new DockerletError(ErrorCodes.CERTIFICATE, `discovery: ${msg}`, { details });
}

/** Checks one cluster-info ConfigMap; returns the server and CA it vouches for, or throws (retryable: 'no signature'). */
export function checkClusterInfo(cm: ConfigMap, token: BootstrapToken, caCertHashes: readonly string[]): DiscoveredCluster & { kubeconfig: string } {
  const kubeconfig = cm.data?.kubeconfig;
  if (!kubeconfig) fail('cluster-info has no kubeconfig');
  const sig = cm.data?.[`${JWS_KEY_PREFIX}${token.id}`];
  if (!sig) fail(`there is no JWS signed token in the cluster-info ConfigMap for token ID "${token.id}"`, { retryable: true });
  if (!detachedSignatureValid(sig, kubeconfig, token)) fail(`failed to verify JWS signature of the cluster-info kubeconfig for token ID "${token.id}"`);
  let doc: { clusters?: { cluster?: Record<string, unknown> }[] };
  try {
    doc = parseYaml(kubeconfig) as typeof doc;
  } catch (err) {
    fail(`cluster-info kubeconfig is not YAML (${errorMessage(err)})`);
  }
  const cluster = doc?.clusters?.[0]?.cluster;
  const server = cluster?.server;
  const caData = cluster?.['certificate-authority-data'];
  if (typeof server !== 'string' || !server) fail('cluster-info kubeconfig has no clusters[0].cluster.server');
  if (typeof caData !== 'string' || !caData) fail('cluster-info kubeconfig has no certificate-authority-data');
  const caPem = Buffer.from(caData, 'base64').toString('utf8');
  const certs = parseCertBundle(caPem);
  if (certs.length === 0) fail('cluster-info certificate-authority-data holds no certificate');
  const hashes = certs.map(publicKeyPinHash);
  if (!hashes.some((h) => caCertHashes.includes(h))) {
    fail(`cluster CA found in cluster-info ConfigMap is not pinned: its public key hash is ${hashes.join(', ')}`);
  }
  return { server: server.replace(/\/+$/, ''), caPem, kubeconfig };
}

async function fetchClusterInfo(conn: KubeConnection, signal?: AbortSignal): Promise<ConfigMap> {
  const client = createKubeClient(conn, { timeoutMs: 10_000 });
  try {
    return await client.get<ConfigMap>(CLUSTER_INFO_PATH, signal ? { signal } : {});
  } finally {
    client.close();
  }
}

/** Token discovery as `kubeadm join --token T --discovery-token-ca-cert-hash H` does it. */
export async function discoverCluster(opts: DiscoveryOptions): Promise<DiscoveredCluster> {
  if (opts.caCertHashes.length === 0) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'flag --discovery-token-ca-cert-hash: required (sha256:<hex of the CA public key>)');
  }
  for (const h of opts.caCertHashes) {
    if (!HASH.test(h)) throw new DockerletError(ErrorCodes.CONFIG_INVALID, `flag --discovery-token-ca-cert-hash: "${h}" is not sha256:<64 hex digits>`);
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 5 * 60_000);
  const insecure: KubeConnection = { server: opts.server.replace(/\/+$/, ''), source: 'discovery (unverified)', insecureSkipTlsVerify: true };
  for (let attempt = 0; ; attempt++) {
    try {
      const found = checkClusterInfo(await fetchClusterInfo(insecure, opts.signal), opts.token, opts.caCertHashes);
      // Again, now trusting only the pinned CA: a man in the middle of the first read cannot answer this one.
      const pinned: KubeConnection = { server: insecure.server, source: 'discovery (pinned CA)', ca: found.caPem, insecureSkipTlsVerify: false };
      const again = await fetchClusterInfo(pinned, opts.signal);
      if (again.data?.kubeconfig !== found.kubeconfig) fail('cluster-info changed between the unverified and the pinned read');
      return { server: found.server, caPem: found.caPem };
    } catch (err) {
      const retryable = !(err instanceof DockerletError) || err.details.retryable === true || err.code !== ErrorCodes.CERTIFICATE;
      if (!retryable || Date.now() >= deadline || opts.signal?.aborted) throw err;
      opts.onRetry?.(err as Error);
      await sleepFor(systemClock, Math.min(5_000, 500 * 2 ** Math.min(attempt, 4)), opts.signal);
    }
  }
}
