// Registry credentials as the kubelet finds them (pkg/credentialprovider keyring.go, config.go and
// secrets/secrets.go MakeDockerKeyring): docker config files ({"auths": {...}} config.json, or the
// legacy flat .dockercfg map) from the node and from the pod's imagePullSecrets
// (kubernetes.io/dockerconfigjson, kubernetes.io/dockercfg). Keys are schemeless URLs (host[:port][/path];
// /v1/ and /v2/ mean the host; https://index.docker.io/v1/ is Docker Hub); a lookup returns every
// credential whose key matches the repository — same port, same number of host labels, each matching as
// a glob (*.example.com), the key's path a prefix of the repository's — most specific key first, the
// pod's secrets before the node's. Pure, but for readNodeCredentials.
import { readFile } from 'node:fs/promises';
import type { Secret } from '../../kube/api.js';

/** What a pull is authenticated with (Docker's AuthConfig / X-Registry-Auth fields). */
export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
  email?: string;
}

interface ConfigEntry {
  username?: string;
  password?: string;
  auth?: string;
  email?: string;
}

const DEFAULT_REGISTRY_KEY = 'https://index.docker.io/v1/';
const DEFAULT_REGISTRY_HOST = 'index.docker.io';

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The registry → entry map of a config.json ({"auths": …}) or a .dockercfg (flat); bad shapes throw. */
export function parseDockerConfig(text: string): Map<string, ConfigEntry> {
  const json: unknown = JSON.parse(text);
  if (!isObject(json)) throw new TypeError('docker config is not a JSON object');
  const map = isObject(json.auths) ? json.auths : json;
  const out = new Map<string, ConfigEntry>();
  for (const [registry, v] of Object.entries(map)) {
    if (!isObject(v)) continue;
    const e: ConfigEntry = {};
    for (const k of ['username', 'password', 'auth', 'email'] as const) if (typeof v[k] === 'string') e[k] = v[k];
    out.set(registry, e);
  }
  return out;
}

/** DockerConfigEntry.UnmarshalJSON: "auth" (base64 user:pass) fills username and password. */
function credentialsOf(e: ConfigEntry): { username: string; password: string } | undefined {
  if (e.auth) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  if (e.username !== undefined || e.password !== undefined) return { username: e.username ?? '', password: e.password ?? '' };
  return undefined;
}

interface SchemelessURL {
  host: string;
  port: string;
  path: string;
}

function parseSchemeless(s: string): SchemelessURL | undefined {
  try {
    const u = new URL(/^https?:\/\//.test(s) ? s : `https://${s}`);
    return { host: u.hostname, port: u.port, path: decodeURIComponent(u.pathname) };
  } catch {
    return undefined;
  }
}

/** filepath.Match for one host label: * (no dot), ? and [...] classes. */
function globMatch(pattern: string, value: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') re += '[^.]*';
    else if (ch === '?') re += '[^.]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) return false;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = `\\^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  try {
    return new RegExp(`^${re}$`).test(value);
  } catch {
    return false;
  }
}

/** URLsMatch: port equal, same number of host labels each matching as a glob, key path a prefix. */
export function urlsMatch(key: string, target: string): boolean {
  const g = parseSchemeless(key);
  const t = parseSchemeless(target);
  if (!g || !t || g.port !== t.port) return false;
  const unbracket = (h: string) => h.replace(/^\[(.*)\]$/, '$1');
  const gp = unbracket(g.host).split('.');
  const tp = unbracket(t.host).split('.');
  if (gp.length !== tp.length || !t.path.startsWith(g.path)) return false;
  return gp.every((p, i) => globMatch(p, tp[i]!));
}

/** isDefaultRegistryMatch: the repository is pulled from Docker Hub. */
function isDefaultRegistryMatch(image: string): boolean {
  const parts = image.split('/');
  if (parts[0] === '') return false;
  if (parts.length === 1) return true;
  if (parts[0] === 'docker.io' || parts[0] === 'index.docker.io') return true;
  return !/[.:]/.test(parts[0]!);
}

/** BasicDockerKeyring: credentials by schemeless key, looked up most specific key first. */
export class DockerKeyring {
  readonly #creds = new Map<string, RegistryAuth[]>();

  add(config: Map<string, ConfigEntry>): this {
    for (const [loc, entry] of config) {
      const c = credentialsOf(entry);
      if (!c) continue;
      const u = parseSchemeless(loc === DEFAULT_REGISTRY_KEY ? DEFAULT_REGISTRY_HOST : loc);
      if (!u) continue;
      let path = u.path;
      if (path.startsWith('/v2/') || path.startsWith('/v1/')) path = path.slice(3);
      const host = u.port ? `${u.host}:${u.port}` : u.host;
      const key = path.length > 0 && path !== '/' ? host + path : host;
      const auth: RegistryAuth = { username: c.username, password: c.password, serveraddress: loc };
      if (entry.email) auth.email = entry.email;
      const list = this.#creds.get(key) ?? [];
      list.push(auth);
      this.#creds.set(key, list);
    }
    return this;
  }

  /** Every credential for repository (domain/path, no tag), most specific key first. */
  lookup(repository: string): RegistryAuth[] {
    const keys = [...this.#creds.keys()].sort().reverse();
    const out: RegistryAuth[] = [];
    for (const k of keys) if (urlsMatch(k, repository)) out.push(...this.#creds.get(k)!);
    if (out.length === 0 && isDefaultRegistryMatch(repository)) out.push(...(this.#creds.get(DEFAULT_REGISTRY_HOST) ?? []));
    return out;
  }

  get size(): number {
    return this.#creds.size;
  }
}

/** The docker config of a pull secret; undefined for other secret types or a missing key. */
export function secretDockerConfig(secret: Secret): string | undefined {
  const data = secret.data ?? {};
  const b64 = secret.type === 'kubernetes.io/dockercfg' ? data['.dockercfg'] : data['.dockerconfigjson'] ?? data['.dockercfg'];
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
}

/** Upstream's search order for the node's docker config (credentialprovider ReadDockerConfigFile). */
export function nodeCredentialPaths(rootDir: string, home = process.env.HOME): string[] {
  const paths = [`${rootDir}/config.json`, `${rootDir}/.dockercfg`];
  if (home) paths.push(`${home}/.docker/config.json`, `${home}/.dockercfg`);
  paths.push('/.docker/config.json', '/.dockercfg');
  return paths;
}

/** The node's keyring: the first readable file of paths (as upstream, one file wins). */
export async function readNodeCredentials(paths: readonly string[], onError?: (path: string, err: unknown) => void): Promise<DockerKeyring> {
  for (const p of paths) {
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch {
      continue;
    }
    try {
      return new DockerKeyring().add(parseDockerConfig(text));
    } catch (err) {
      onError?.(p, err);
    }
  }
  return new DockerKeyring();
}
