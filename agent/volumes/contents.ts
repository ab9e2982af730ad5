// The file contents of API-backed volumes (configMap, secret, downwardAPI, projected), fetched through
// the KubeClient (shared between pods by ./object-cache.ts when one is given). Token sources reuse a
// cached token until it needs refreshing.
import type { KeyToPath, Pod, Volume } from '../../kube/api.js';
import type { KubeClient } from '../../kube/types.js';
import type { Clock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { Allocatable } from '../containers/fieldpath.js';
import { fetchConfigMap, fetchSecret } from '../containers/sources.js';
import type { Freshness, ObjectCache } from './object-cache.js';
import { configMapPayload, DEFAULT_MODE, downwardApiPayload, secretPayload, type Payload } from './payload.js';
import { requestToken, requiresRefresh, tokenRequestKey, type IssuedToken } from './tokens.js';

export interface ContentDeps {
  client?: KubeClient;
  clock: Clock;
  allocatable(): Allocatable;
  /** Token cache keyed by tokenCacheKey(). */
  tokens: Map<string, IssuedToken>;
  /** ConfigMaps/Secrets shared between pods, and which copy this read accepts. */
  objects?: { cache: ObjectCache; fresh: Freshness };
}

function cached<T>(pod: Pod, deps: ContentDeps, key: string, fetch: () => Promise<T>): Promise<T> {
  if (!deps.objects) return fetch();
  return deps.objects.cache.get(key, pod.metadata.uid ?? '', deps.objects.fresh, fetch);
}

export function tokenCacheKey(podUid: string, volume: string, filePath: string): string {
  return `${podUid}|${volume}|${filePath}`;
}

interface KeySource {
  name: string;
  items?: KeyToPath[];
  optional?: boolean;
}

function needClient(deps: ContentDeps): KubeClient {
  if (!deps.client) throw new DockerletError(ErrorCodes.VOLUME, 'no Kubernetes API client configured', { details: { reason: 'payload' } });
  return deps.client;
}

function ns(pod: Pod): string {
  return pod.metadata.namespace ?? 'default';
}

async function configMapFiles(pod: Pod, deps: ContentDeps, src: KeySource, mode: number): Promise<Payload> {
  const client = needClient(deps);
  const cm = await cached(pod, deps, `configmaps/${ns(pod)}/${src.name}`, () => fetchConfigMap(client, ns(pod), src.name));
  if (!cm) {
    if (src.optional) return new Map();
    throw new DockerletError(ErrorCodes.VOLUME, `configmap "${src.name}" not found`, { details: { reason: 'payload' } });
  }
  return configMapPayload(cm, src.items, mode, src.optional === true);
}

async function secretFiles(pod: Pod, deps: ContentDeps, src: KeySource, mode: number): Promise<Payload> {
  const client = needClient(deps);
  const s = await cached(pod, deps, `secrets/${ns(pod)}/${src.name}`, () => fetchSecret(client, ns(pod), src.name));
  if (!s) {
    if (src.optional) return new Map();
    throw new DockerletError(ErrorCodes.VOLUME, `secret "${src.name}" not found`, { details: { reason: 'payload' } });
  }
  return secretPayload(s, src.items, mode, src.optional === true);
}

/** The current token for one projected serviceAccountToken file, requesting a new one when due. */
async function tokenFor(pod: Pod, vol: Volume, filePath: string, src: { audience?: string; expirationSeconds?: number }, deps: ContentDeps): Promise<IssuedToken> {
  const key = tokenCacheKey(pod.metadata.uid ?? '', vol.name, filePath);
  const cached = deps.tokens.get(key);
  if (cached && cached.key === tokenRequestKey(pod, src) && !requiresRefresh(cached, deps.clock.now())) return cached;
  const t = await requestToken(needClient(deps), pod, src);
  deps.tokens.set(key, t);
  return t;
}

/** The payload of an API-backed volume; undefined for other volume types. Throws VOLUME errors (details.reason 'payload'). */
export async function volumePayload(pod: Pod, vol: Volume, deps: ContentDeps): Promise<Payload | undefined> {
  if (vol.configMap) {
    const c = vol.configMap;
    return configMapFiles(pod, deps, c, c.defaultMode ?? DEFAULT_MODE);
  }
  if (vol.secret) {
    const s = vol.secret;
    return secretFiles(pod, deps, { name: s.secretName, items: s.items, optional: s.optional }, s.defaultMode ?? DEFAULT_MODE);
  }
  if (vol.downwardAPI) {
    return downwardApiPayload(pod, vol.downwardAPI.items, vol.downwardAPI.defaultMode ?? DEFAULT_MODE, deps.allocatable());
  }
  if (vol.projected) {
    const mode = vol.projected.defaultMode ?? DEFAULT_MODE;
    const fsGroup = pod.spec.securityContext?.fsGroup;
    const out: Payload = new Map();
    const merge = (p: Payload) => p.forEach((v, k) => out.set(k, v));
    for (const src of vol.projected.sources ?? []) {
      if (src.configMap) merge(await configMapFiles(pod, deps, src.configMap, mode));
      else if (src.secret) merge(await secretFiles(pod, deps, src.secret, mode));
      else if (src.downwardAPI) merge(downwardApiPayload(pod, src.downwardAPI.items, mode, deps.allocatable()));
      else if (src.serviceAccountToken) {
        const t = await tokenFor(pod, vol, src.serviceAccountToken.path, src.serviceAccountToken, deps);
        // With an fsGroup the token is 0600 and the ownership change makes it 0640, as upstream.
        out.set(src.serviceAccountToken.path, { data: Buffer.from(t.token, 'utf8'), mode: fsGroup === undefined ? mode : 0o600 });
      }
    }
    return out;
  }
  return undefined;
}
