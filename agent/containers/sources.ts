// Fetching ConfigMaps/Secrets through the KubeClient contract, with "not found" as undefined.
import type { ConfigMap, Secret } from '../../kube/api.js';
import type { KubeClient } from '../../kube/types.js';
import { isNotFound } from '../../kube/errors.js';
import type { EnvSources } from './env.js';

function seg(s: string): string {
  return encodeURIComponent(s);
}

export function configMapPath(ns: string, name: string): string {
  return `/api/v1/namespaces/${seg(ns)}/configmaps/${seg(name)}`;
}

export function secretPath(ns: string, name: string): string {
  return `/api/v1/namespaces/${seg(ns)}/secrets/${seg(name)}`;
}

export function tokenPath(ns: string, serviceAccount: string): string {
  return `/api/v1/namespaces/${seg(ns)}/serviceaccounts/${seg(serviceAccount)}/token`;
}

async function getOrUndefined<T>(client: KubeClient, path: string): Promise<T | undefined> {
  try {
    return await client.get<T>(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function fetchConfigMap(client: KubeClient, ns: string, name: string): Promise<ConfigMap | undefined> {
  return getOrUndefined<ConfigMap>(client, configMapPath(ns, name));
}

export function fetchSecret(client: KubeClient, ns: string, name: string): Promise<Secret | undefined> {
  return getOrUndefined<Secret>(client, secretPath(ns, name));
}

/** EnvSources backed by direct GETs (no cache). */
export function kubeEnvSources(client: KubeClient, extra: Pick<EnvSources, 'serviceEnv' | 'onInvalidKeys'> = {}): EnvSources {
  return {
    configMap: (ns, name) => fetchConfigMap(client, ns, name),
    secret: (ns, name) => fetchSecret(client, ns, name),
    ...extra,
  };
}
