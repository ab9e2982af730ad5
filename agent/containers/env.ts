// Container environment as kubelet makeEnvironmentVariables builds it: envFrom first (later sources win),
// then env in order with $(VAR) expansion over what is defined so far plus service variables, then the
// remaining service variables. Secret values are never logged or put into error messages.
import type { ConfigMap, Container, Pod, Secret } from '../../kube/api.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import { expand, mappingFor } from './expansion.js';
import { podFieldValue, resourceFieldValue } from './fieldpath.js';

export interface EnvSources {
  /** The ConfigMap, or undefined when it does not exist (other failures reject). */
  configMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
  /** The Secret, or undefined when it does not exist (other failures reject). */
  secret(namespace: string, name: string): Promise<Secret | undefined>;
  /** Service link variables (KUBERNETES_SERVICE_HOST, …); none when absent. */
  /** Service link variables; `isStatic`: a static pod does not wait for the Service list (upstream makeEnvironmentVariables). */
  serviceEnv?(namespace: string, enableServiceLinks: boolean, isStatic: boolean): Promise<Record<string, string>>;
  /** Called with the InvalidEnvironmentVariableNames warning text when envFrom keys were skipped. */
  onInvalidKeys?(message: string): void;
}

export interface EnvNode {
  nodeName: string;
  hostIP: string;
  hostIPs?: string[];
  podIP?: string;
  podIPs?: string[];
  /** Node allocatable (limits.* of the downward API default to it). */
  capacity: { cpuMillis: number; memoryBytes: number; ephemeralStorageBytes?: number };
}

export interface EnvVarValue {
  name: string;
  value: string;
}

function configError(message: string, cause?: unknown): DockerletError {
  return new DockerletError(ErrorCodes.CONTAINER_CONFIG, message, {
    cause,
    details: { reason: 'CreateContainerConfigError' },
  });
}

/**
 * Environment variable names the runtime can carry: printable ASCII without '=' (the relaxed rule the API
 * validates since RelaxedEnvironmentVariableValidation); other envFrom keys are skipped with a warning.
 */
export function isValidEnvName(name: string): boolean {
  return /^[\x20-\x3c\x3e-\x7e]+$/.test(name);
}

function decode(b64: string): string {
  return Buffer.from(b64, 'base64').toString('utf8');
}

/** Per-call cache so a ConfigMap/Secret referenced several times is fetched once, like upstream. */
class Lookup {
  readonly #cms = new Map<string, ConfigMap | undefined>();
  readonly #secrets = new Map<string, Secret | undefined>();
  constructor(private readonly sources: EnvSources, private readonly ns: string) {}

  async configMap(name: string, optional: boolean): Promise<ConfigMap | undefined> {
    if (!this.#cms.has(name)) this.#cms.set(name, await this.#fetch(() => this.sources.configMap(this.ns, name), `configmap`, name));
    const cm = this.#cms.get(name);
    if (!cm && !optional) throw configError(`configmap "${name}" not found`);
    return cm;
  }

  async secret(name: string, optional: boolean): Promise<Secret | undefined> {
    if (!this.#secrets.has(name)) this.#secrets.set(name, await this.#fetch(() => this.sources.secret(this.ns, name), 'secret', name));
    const s = this.#secrets.get(name);
    if (!s && !optional) throw configError(`secret "${name}" not found`);
    return s;
  }

  async #fetch<T>(fn: () => Promise<T>, kind: string, name: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw configError(`couldn't get ${kind} ${this.ns}/${name}: ${err instanceof Error ? err.message : String(err)}`, err);
    }
  }
}

/** Resolves a container's environment. Missing non-optional sources throw CONTAINER_CONFIG. */
export async function resolveEnv(pod: Pod, container: Container, sources: EnvSources, node: EnvNode): Promise<EnvVarValue[]> {
  const ns = pod.metadata.namespace ?? 'default';
  const lookup = new Lookup(sources, ns);
  const serviceEnv = new Map(Object.entries(
    (await sources.serviceEnv?.(ns, pod.spec.enableServiceLinks ?? true, pod.metadata.annotations?.['kubernetes.io/config.source'] === 'file')) ?? {},
  ));
  const tmpEnv = new Map<string, string>();

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    let data: [string, string][] = [];
    let what = '';
    if (from.configMapRef) {
      const cm = await lookup.configMap(from.configMapRef.name, from.configMapRef.optional === true);
      if (!cm) continue;
      data = Object.entries(cm.data ?? {});
      what = `configMap ${ns}/${from.configMapRef.name}`;
    } else if (from.secretRef) {
      const s = await lookup.secret(from.secretRef.name, from.secretRef.optional === true);
      if (!s) continue;
      data = Object.entries(s.data ?? {}).map(([k, v]) => [k, decode(v)]);
      what = `secret ${ns}/${from.secretRef.name}`;
    }
    const invalid: string[] = [];
    for (const [key, v] of data) {
      const k = prefix + key;
      if (!isValidEnvName(k)) {
        invalid.push(k);
        continue;
      }
      tmpEnv.set(k, v);
    }
    if (invalid.length) {
      sources.onInvalidKeys?.(
        `Keys [${invalid.sort().join(', ')}] from the EnvFrom ${what} were skipped since they are considered invalid environment variable names.`,
      );
    }
  }

  const mapping = mappingFor(tmpEnv, serviceEnv);
  const fieldCtx = {
    hostIPs: node.hostIPs?.length ? node.hostIPs : node.hostIP ? [node.hostIP] : [],
    podIPs: node.podIPs?.length ? node.podIPs : node.podIP ? [node.podIP] : undefined,
  };
  const podForFields: Pod = pod.spec.nodeName ? pod : { ...pod, spec: { ...pod.spec, nodeName: node.nodeName } };
  for (const ev of container.env ?? []) {
    let val = ev.value ?? '';
    if (val !== '') {
      val = expand(val, mapping);
    } else if (ev.valueFrom) {
      const vf = ev.valueFrom;
      if (vf.fieldRef) {
        val = podFieldValue(podForFields, vf.fieldRef.fieldPath, fieldCtx, vf.fieldRef.apiVersion);
      } else if (vf.resourceFieldRef) {
        val = resourceFieldValue(pod, container, vf.resourceFieldRef, node.capacity);
      } else if (vf.configMapKeyRef) {
        const ref = vf.configMapKeyRef;
        const cm = await lookup.configMap(ref.name, ref.optional === true);
        if (!cm) continue;
        const v = cm.data?.[ref.key];
        if (v === undefined) {
          if (ref.optional) continue;
          throw configError(`couldn't find key ${ref.key} in ConfigMap ${ns}/${ref.name}`);
        }
        val = v;
      } else if (vf.secretKeyRef) {
        const ref = vf.secretKeyRef;
        const s = await lookup.secret(ref.name, ref.optional === true);
        if (!s) continue;
        const v = s.data?.[ref.key];
        if (v === undefined) {
          if (ref.optional) continue;
          throw configError(`couldn't find key ${ref.key} in Secret ${ns}/${ref.name}`);
        }
        val = decode(v);
      }
    }
    tmpEnv.set(ev.name, val);
  }

  const result: EnvVarValue[] = [...tmpEnv].map(([name, value]) => ({ name, value }));
  for (const [name, value] of serviceEnv) if (!tmpEnv.has(name)) result.push({ name, value });
  return result;
}

/** The resolved list as a map (last wins), for $(VAR) expansion of command/args/subPathExpr. */
export function envMap(env: readonly EnvVarValue[]): Map<string, string> {
  return new Map(env.map((e) => [e.name, e.value]));
}
