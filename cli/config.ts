// dockerlet's configuration: one schema, validated once at the edge, then frozen.
// Precedence: flags > environment (DOCKERLET_*) > config file > defaults.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import { InterfaceName } from '../proxy/config.js';

const Taint = z.object({ key: z.string().min(1), value: z.string().optional(), effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']) }).strict();

export const ConfigSchema = z.object({
  nodeName: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a lowercase RFC 1123 name').default(hostname().toLowerCase()),
  kubeconfig: z.string().optional(),
  staticPodPath: z.string().optional(),
  fileCheckFrequencySeconds: z.number().int().positive().default(20),
  podInfraContainerImage: z.string().min(1).default('registry.k8s.io/pause:3.10'),
  rootDir: z.string().default('/var/lib/dockerlet'),
  dockerEndpoint: z.string().default('/var/run/docker.sock'),
  maxPods: z.number().int().positive().max(1000).default(110),
  nodeLabels: z.record(z.string(), z.string()).default({}),
  registerWithTaints: z.array(Taint).default([]),
  port: z.number().int().min(1).max(65535).default(10250),
  clusterDNS: z.array(z.string()).default([]),
  clusterDomain: z.string().default('cluster.local'),
  // One worker per pod, as the kubelet: a pod waiting out its grace period must not hold up others.
  podWorkers: z.number().int().positive().max(4096).default(1024),
  /** Concurrent Docker container creates/starts (bench/pod-startup: 4 was slower than 12 or unbounded). */
  runtimeParallelism: z.number().int().positive().max(256).default(12),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  proxy: z.object({
    enabled: z.boolean().default(false),
    healthzPort: z.number().int().min(0).max(65535).default(10256),
    metricsPort: z.number().int().min(0).max(65535).default(10249),
    iptables: z.boolean().default(true),
    /** TCP data path: the 'native' relay (falls back to 'raw' where it is not built), 'raw' libuv handles (falls back to 'pump' when this Node lacks them) or the net.Socket 'pump'. */
    dataPath: z.enum(['native', 'raw', 'pump']).default('native'),
    /** Shard processes that also accept on each non-ClientIP TCP listener; 'auto' = 0 below 4 cores, else min(cpus - 2, 3). */
    shards: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto'),
    /** The bridge this node's pods are on (kube-proxy --pod-bridge-interface); '' = none. */
    podBridgeInterface: InterfaceName.default('docker0'),
  }).strict().prefault({}),
}).strict();

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

function formatIssue(source: string, issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') return `${source}: ${[...(issue as { keys: string[] }).keys].map((k) => (issue.path.length ? `${path}.${k}` : k)).join(', ')}: unknown field`;
  return `${source}: ${path}: ${issue.message}`;
}

/** Validates a raw config object; throws CONFIG_INVALID naming the source and field. */
export function validateConfig(raw: unknown, source: string): Config {
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, formatIssue(source, first), { details: { issues: r.error.issues.length } });
  }
  return deepFreeze(r.data);
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `config ${path}: cannot read: ${(err as Error).message}`);
  }
  try {
    const v: unknown = parseYaml(text);
    if (v === null || v === undefined) return {};
    if (typeof v !== 'object' || Array.isArray(v)) throw new Error('top level must be a mapping');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, `config ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Merges file < env < flags (shallow, plus the nested proxy section). */
export function mergeConfig(...layers: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const l of layers) {
    for (const [k, v] of Object.entries(l)) {
      if (v === undefined) continue;
      if (k === 'proxy' && typeof v === 'object' && v) out.proxy = { ...(out.proxy as object | undefined), ...(v as object) };
      else out[k] = v;
    }
  }
  return out;
}

/** DOCKERLET_NODE_NAME, DOCKERLET_KUBECONFIG, DOCKERLET_STATIC_POD_PATH, DOCKERLET_ROOT_DIR, DOCKERLET_LOG_LEVEL. */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  return {
    nodeName: env.DOCKERLET_NODE_NAME,
    kubeconfig: env.DOCKERLET_KUBECONFIG,
    staticPodPath: env.DOCKERLET_STATIC_POD_PATH,
    rootDir: env.DOCKERLET_ROOT_DIR,
    logLevel: env.DOCKERLET_LOG_LEVEL,
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
