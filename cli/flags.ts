// Command-line flags → a config layer. Flag names follow the kubelet's where one exists.
import { parseArgs } from 'node:util';
import { DockerletError, ErrorCodes } from '../lib/errors.js';

export const FLAG_OPTIONS = {
  config: { type: 'string' },
  kubeconfig: { type: 'string' },
  'node-name': { type: 'string' },
  'hostname-override': { type: 'string' },
  'pod-manifest-path': { type: 'string' },
  'pod-infra-container-image': { type: 'string' },
  'root-dir': { type: 'string' },
  'docker-endpoint': { type: 'string' },
  'max-pods': { type: 'string' },
  'cluster-dns': { type: 'string' },
  'cluster-domain': { type: 'string' },
  'non-masquerade-cidr': { type: 'string' },
  'allowed-unsafe-sysctls': { type: 'string' },
  'node-labels': { type: 'string' },
  'register-with-taints': { type: 'string' },
  port: { type: 'string' },
  address: { type: 'string' },
  'read-only-port': { type: 'string' },
  'tls-cert-file': { type: 'string' },
  'tls-private-key-file': { type: 'string' },
  'client-ca-file': { type: 'string' },
  'anonymous-auth': { type: 'string' },
  'authentication-token-webhook': { type: 'string' },
  'authorization-mode': { type: 'string' },
  'rotate-server-certificates': { type: 'boolean' },
  'log-level': { type: 'string' },
  'with-proxy': { type: 'boolean' },
  'proxy-healthz-port': { type: 'string' },
  'proxy-metrics-port': { type: 'string' },
  'proxy-data-path': { type: 'string' },
  'proxy-relay-threads': { type: 'string' },
  'pod-bridge-interface': { type: 'string' },
  'bootstrap-kubeconfig': { type: 'string' },
  'cert-dir': { type: 'string' },
  'rotate-certificates': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ParsedFlags {
  command: string;
  configFile?: string;
  layer: Record<string, unknown>;
  help: boolean;
}

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new DockerletError(ErrorCodes.CONFIG_INVALID, `flag --${flag}: expected an integer, got "${v}"`);
  return n;
}

/** A comma-separated list flag (--cluster-dns=10.96.0.10,…): empty items dropped. */
function list(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
}

/** A kubelet-style boolean flag value: --flag=true|false (a bare --flag is parsed as a missing value by parseArgs). */
function bool(flag: string, v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new DockerletError(ErrorCodes.CONFIG_INVALID, `flag --${flag}: expected true or false, got "${v}"`);
}

/** Drops undefined leaves; an object left empty becomes undefined (so it merges as "not given"). */
function compact(o: Record<string, unknown>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const c = v !== null && typeof v === 'object' && !Array.isArray(v) ? compact(v as Record<string, unknown>) : v;
    if (c !== undefined) out[k] = c;
  }
  return Object.keys(out).length ? out : undefined;
}

function pairs(flag: string, v: string | undefined): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const part of v.split(',').filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new DockerletError(ErrorCodes.CONFIG_INVALID, `flag --${flag}: expected key=value, got "${part}"`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

function taints(v: string | undefined): unknown[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').filter(Boolean).map((t) => {
    const m = /^([^=:]+)(?:=([^:]*))?:(\w+)$/.exec(t);
    if (!m) throw new DockerletError(ErrorCodes.CONFIG_INVALID, `flag --register-with-taints: expected key[=value]:Effect, got "${t}"`);
    return { key: m[1], value: m[2], effect: m[3] };
  });
}

export function parseFlags(argv: string[]): ParsedFlags {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: FLAG_OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `flags: ${(err as Error).message}`);
  }
  const v = parsed.values;
  const proxy: Record<string, unknown> = {};
  if (v['with-proxy']) proxy.enabled = true;
  if (v['proxy-healthz-port'] !== undefined) proxy.healthzPort = int('proxy-healthz-port', v['proxy-healthz-port']);
  if (v['proxy-metrics-port'] !== undefined) proxy.metricsPort = int('proxy-metrics-port', v['proxy-metrics-port']);
  if (v['proxy-data-path'] !== undefined) proxy.dataPath = v['proxy-data-path'];
  if (v['proxy-relay-threads'] !== undefined) proxy.relayThreads = int('proxy-relay-threads', v['proxy-relay-threads']);
  if (v['pod-bridge-interface'] !== undefined) proxy.podBridgeInterface = v['pod-bridge-interface'];
  return {
    command: parsed.positionals[0] ?? 'help',
    configFile: v.config,
    help: v.help ?? false,
    layer: {
      kubeconfig: v.kubeconfig,
      nodeName: v['node-name'] ?? v['hostname-override'],
      staticPodPath: v['pod-manifest-path'],
      podInfraContainerImage: v['pod-infra-container-image'],
      rootDir: v['root-dir'],
      dockerEndpoint: v['docker-endpoint'],
      maxPods: int('max-pods', v['max-pods']),
      clusterDNS: list(v['cluster-dns']),
      clusterDomain: v['cluster-domain'],
      nonMasqueradeCIDR: v['non-masquerade-cidr'],
      allowedUnsafeSysctls: list(v['allowed-unsafe-sysctls']),
      nodeLabels: pairs('node-labels', v['node-labels']),
      registerWithTaints: taints(v['register-with-taints']),
      port: int('port', v.port),
      address: v.address,
      readOnlyPort: int('read-only-port', v['read-only-port']),
      tlsCertFile: v['tls-cert-file'],
      tlsPrivateKeyFile: v['tls-private-key-file'],
      authentication: compact({
        x509: { clientCAFile: v['client-ca-file'] },
        anonymous: { enabled: bool('anonymous-auth', v['anonymous-auth']) },
        webhook: { enabled: bool('authentication-token-webhook', v['authentication-token-webhook']) },
      }),
      authorization: compact({ mode: v['authorization-mode'] }),
      serverTLSBootstrap: v['rotate-server-certificates'],
      logLevel: v['log-level'],
      bootstrapKubeconfig: v['bootstrap-kubeconfig'],
      certDir: v['cert-dir'],
      rotateCertificates: bool('rotate-certificates', v['rotate-certificates']),
      logFormat: v['log-format'],
      proxy: Object.keys(proxy).length ? proxy : undefined,
    },
  };
}

export const USAGE = `usage: dockerlet <command> [flags]

commands:
  agent     run the node agent (kubelet on Docker); add --with-proxy for the service proxy too
  proxy     run only the userspace service proxy (needs --kubeconfig)
  run       agent and proxy in one daemon
  metrics   container metrics for a plain Docker host on :8080, as cAdvisor (dockerlet metrics --help)
  config    "config defaults" prints the default config as YAML; "config check FILE" validates one
  join      join a cluster with a bootstrap token and the CA's hash (dockerlet join --help)
  install   write the systemd unit, a commented config and the dirs; "uninstall" removes them (--purge: pod data too)
  version   print the version

flags:
  --config FILE                     YAML config file (keys as in cli/config.ts)
  --kubeconfig FILE                 API server credentials; without it the agent runs standalone
  --node-name NAME                  node name (default: hostname)
  --pod-manifest-path DIR           static pod manifests
  --pod-infra-container-image IMG   sandbox image (default registry.k8s.io/pause:3.10)
  --root-dir DIR                    state directory (default /var/lib/dockerlet)
  --docker-endpoint PATH            Docker socket (default /var/run/docker.sock)
  --max-pods N                      pod capacity (default 110)
  --cluster-dns IP,...              cluster DNS servers for ClusterFirst pods (e.g. 10.96.0.10)
  --cluster-domain DOMAIN           cluster domain (default cluster.local)
  --non-masquerade-cidr CIDR        pod traffic to addresses outside it is masqueraded (default 10.0.0.0/8)
  --allowed-unsafe-sysctls a,b.*    unsafe sysctls pods may set (default none)
  --node-labels k=v,...             labels to register the node with
  --register-with-taints k=v:Effect,...
  --port N                          kubelet API port (default 10250)
  --address IP                      kubelet API bind address (default 0.0.0.0)
  --tls-cert-file/--tls-private-key-file FILE   serving certificate (default: self-signed under <root-dir>/pki)
  --client-ca-file FILE             CA that verifies client certificates (the cluster CA)
  --anonymous-auth=BOOL             anonymous requests (default false)
  --authentication-token-webhook=BOOL  bearer tokens through TokenReview (default true when paired)
  --authorization-mode MODE         Webhook (default when paired) | AlwaysAllow
  --rotate-server-certificates      serving certificate from a kubelet-serving CSR, renewed before expiry
  --read-only-port N                unauthenticated read-only port (default 0: off)
  --log-level LEVEL                 trace|debug|info|warn|error
  --log-format auto|json|text       auto (default): readable lines on a terminal, JSON lines otherwise
  --bootstrap-kubeconfig FILE       TLS bootstrap: used when --kubeconfig is missing or its certificate expired
  --cert-dir DIR                    client certificate store (default <root-dir>/pki)
  --rotate-certificates=BOOL        renew the client certificate at 70-90 % of its life, no restart (default false)
  --proxy-data-path native|pump     proxy TCP data path (default native: the C relay; pump: net.Socket, also used when the relay cannot load or start)
  --proxy-relay-threads N           native relay threads (default: one per core, at most 4)
  --pod-bridge-interface NAME       bridge of this node's pods (default docker0; '' = none): their traffic to
                                    externalTrafficPolicy Local addresses goes cluster-wide (upstream's short-circuit)
`;
