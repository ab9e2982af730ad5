// dockerlet's configuration: the agent's and the proxy's slices combined into one schema, validated
// once at the edge, then frozen.
// Precedence: flags > environment (DOCKERLET_*) > config file > defaults.
import { z } from 'zod';
import { DockerletError, ErrorCodes } from '../lib/errors.js';
import { AgentConfigShape } from '../agent/config.js';
import { ProxySectionSchema } from '../proxy/config.js';
import { knownKeys, nearest, type ConfigFile } from './config-file.js';

export { readConfigFile, type ConfigFile } from './config-file.js';

export const ConfigSchema = z.object({
  ...AgentConfigShape,
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
  rotateCertificates: z.boolean().default(false),
  bootstrapKubeconfig: z.string().optional(),
  certDir: z.string().optional(),
  logFormat: z.enum(['auto', 'json', 'text']).default('auto'),
  proxy: ProxySectionSchema.prefault({}),
}).strict().superRefine((c, ctx) => {
  if (c.imageGCLowThresholdPercent > c.imageGCHighThresholdPercent) {
    ctx.addIssue({ code: 'custom', path: ['imageGCLowThresholdPercent'], message: 'must not be above imageGCHighThresholdPercent' });
  }
});

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

function formatIssue(source: string, issue: z.core.$ZodIssue, file?: ConfigFile): string {
  const path = issue.path.map(String);
  const where = (line: number | undefined) => (file && line ? `config ${file.path}:${line}` : source);
  if (issue.code === 'unrecognized_keys') {
    const keys = [...(issue as { keys: string[] }).keys];
    const known = knownKeys(ConfigSchema, issue.path);
    const first = keys[0]!;
    const hint = nearest(first, known);
    const names = keys.map((k) => [...path, k].join('.')).join(', ');
    return `${where(file?.lineOf(issue.path, first))}: ${names}: unknown field${hint ? ` (did you mean "${[...path, hint].join('.')}"?)` : ''}`;
  }
  return `${where(file?.lineOf(issue.path))}: ${path.length ? path.join('.') : '(top level)'}: ${issue.message}`;
}

/** Validates a raw config object; throws CONFIG_INVALID naming the source (file and line when it came from the file) and field. */
export function validateConfig(raw: unknown, source: string, file?: ConfigFile): Config {
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new DockerletError(ErrorCodes.CONFIG_INVALID, formatIssue(source, first, file), { details: { issues: r.error.issues.length } });
  }
  return deepFreeze(r.data);
}

/** Top-level sections that merge key by key across layers (node labels and the rest are replaced whole, as the kubelet). */
const MERGED_SECTIONS = new Set(['proxy', 'authentication', 'authorization']);

/** Merges file < env < flags. */
export function mergeConfig(...layers: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const l of layers) {
    for (const [k, v] of Object.entries(l)) {
      if (v === undefined) continue;
      if (MERGED_SECTIONS.has(k) && isMapping(v) && isMapping(out[k])) {
        const merged = { ...(out[k] as Record<string, unknown>) };
        mergeInto(merged, v);
        out[k] = merged;
      } else {
        out[k] = v;
      }
    }
  }
  return out;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergeInto(out: Record<string, unknown>, layer: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(layer)) {
    if (v === undefined) continue;
    const prev = out[k];
    if (isMapping(v) && isMapping(prev)) {
      const merged = { ...prev };
      mergeInto(merged, v);
      out[k] = merged;
    } else {
      out[k] = v;
    }
  }
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
