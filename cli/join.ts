// `dockerlet join`: kubeadm join's node half. Token discovery (cluster-info, JWS, CA pin), then the
// kubelet's TLS bootstrap with that token: a CSR for system:node:<name> signed by the controller-
// manager, the node kubeconfig + key (0600) under the config dir. The bootstrap kubeconfig is removed
// afterwards (as kubeadm removes bootstrap-kubelet.conf); the token never reaches a log line.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { discoverCluster } from '../kube/bootstrap/discovery.js';
import { writeBootstrapKubeconfig } from '../kube/bootstrap/kubeconfigs.js';
import { loadClientCert } from '../kube/bootstrap/tls-bootstrap.js';
import { parseBootstrapToken } from '../kube/bootstrap/token.js';
import { DockerletError, ErrorCodes, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';

export const JOIN_USAGE = `usage: dockerlet join --server https://HOST:PORT --token ID.SECRET --discovery-token-ca-cert-hash sha256:HEX [flags]

  --server URL                         the API server to discover the cluster from (or HOST:PORT as first argument)
  --token ID.SECRET                    bootstrap token (kubeadm token create)
  --discovery-token-ca-cert-hash H     sha256:<hex> of the cluster CA's public key (repeatable)
  --node-name NAME                     default: hostname
  --config-dir DIR                     default /etc/dockerlet: kubelet.kubeconfig, pki/
  --cert-dir DIR                       default <config-dir>/pki
  --timeout SECONDS                    discovery and CSR approval bound (default 300)
`;

export interface JoinOptions {
  server: string;
  token: string;
  caCertHashes: string[];
  nodeName: string;
  configDir: string;
  certDir: string;
  timeoutMs: number;
}

export interface JoinResult {
  kubeconfigPath: string;
  certDir: string;
  nodeName: string;
  server: string;
  csrName?: string;
}

export function parseJoinFlags(argv: string[]): JoinOptions {
  let p;
  try {
    p = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        server: { type: 'string' }, token: { type: 'string' }, 'discovery-token-ca-cert-hash': { type: 'string', multiple: true },
        'node-name': { type: 'string' }, 'config-dir': { type: 'string' }, 'cert-dir': { type: 'string' }, timeout: { type: 'string' },
      },
    });
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `join: ${(err as Error).message}`);
  }
  const v = p.values;
  let server = v.server ?? p.positionals[0];
  if (!server) throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'join: flag --server: required');
  if (!/^https?:\/\//.test(server)) server = `https://${server}`;
  if (!v.token) throw new DockerletError(ErrorCodes.CONFIG_INVALID, 'join: flag --token: required');
  const timeout = v.timeout === undefined ? 300 : Number(v.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new DockerletError(ErrorCodes.CONFIG_INVALID, `join: flag --timeout: expected seconds, got "${v.timeout}"`);
  const configDir = v['config-dir'] ?? '/etc/dockerlet';
  return {
    server,
    token: v.token,
    caCertHashes: v['discovery-token-ca-cert-hash'] ?? [],
    nodeName: v['node-name'] ?? hostname().toLowerCase(),
    configDir,
    certDir: v['cert-dir'] ?? join(configDir, 'pki'),
    timeoutMs: timeout * 1000,
  };
}

export async function joinCluster(opts: JoinOptions, log: Logger, signal?: AbortSignal): Promise<JoinResult> {
  const token = parseBootstrapToken(opts.token);
  const found = await discoverCluster({
    server: opts.server, token, caCertHashes: opts.caCertHashes, timeoutMs: opts.timeoutMs,
    ...(signal ? { signal } : {}),
    onRetry: (err) => log.info({ reason: errorMessage(err) }, 'cluster-info not usable yet; retrying'),
  });
  log.info({ server: found.server }, 'cluster CA verified by its public key hash and the token signature');
  const kubeconfigPath = join(opts.configDir, 'kubelet.kubeconfig');
  const bootstrapPath = join(opts.configDir, 'bootstrap-kubeconfig');
  writeBootstrapKubeconfig(bootstrapPath, found.server, found.caPem, opts.token);
  try {
    const r = await loadClientCert({
      kubeconfigPath, bootstrap: bootstrapPath, certDir: opts.certDir, nodeName: opts.nodeName,
      log, timeoutMs: opts.timeoutMs, ...(signal ? { signal } : {}),
    });
    return { kubeconfigPath, certDir: opts.certDir, nodeName: opts.nodeName, server: found.server, ...(r.csrName ? { csrName: r.csrName } : {}) };
  } finally {
    rmSync(bootstrapPath, { force: true });
  }
}

/** The CLI entry: returns the exit code; prints where the credential went and how to start. */
export async function joinCommand(argv: string[], log: Logger): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(JOIN_USAGE);
    return 0;
  }
  const r = await joinCluster(parseJoinFlags(argv), log);
  process.stdout.write(
    `This node (${r.nodeName}) has joined ${r.server}: client certificate issued through CSR ${r.csrName ?? '(existing credential still valid)'}\n` +
    `  kubeconfig: ${r.kubeconfigPath}\n  certificates: ${r.certDir}\n` +
    `Start it: systemctl start dockerlet, or dockerlet run --kubeconfig ${r.kubeconfigPath} --cert-dir ${r.certDir} --rotate-certificates\n`,
  );
  return 0;
}
