// A narrow in-memory pods API for status-writer unit tests: GET pods, PATCH pods/<n>/status with the
// strategic-merge semantics the API server applies to PodStatus (conditions merge by type, podIPs and
// hostIPs by ip, `$setElementOrder`, `$patch: delete|replace`, null deletes, other lists replaced),
// the uid precondition (422), and validatePodIPs (at most one IP per family, 422). resourceVersion goes up
// on every write; failures can be injected. Not a general API-server fake.
import type { Pod } from '../../../kube/api.js';
import { apiErrorFromStatus } from '../../../kube/errors.js';
import { DockerletError, ErrorCodes } from '../../../lib/errors.js';
import type { KubeClient, PatchType, RequestOptions, WatchEnd } from '../../../kube/types.js';

type Obj = Record<string, unknown>;
const MERGE_KEYS: Record<string, string> = { conditions: 'type', podIPs: 'ip', hostIPs: 'ip' };

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function mergeList(field: string, target: unknown, patch: unknown[], order: unknown[] | undefined): unknown[] {
  const key = MERGE_KEYS[field];
  if (!key) return structuredClone(patch);
  if (patch.some((i) => isObj(i) && i.$patch === 'replace')) return structuredClone(patch.filter((i) => !(isObj(i) && i.$patch === 'replace')));
  let out = Array.isArray(target) ? (structuredClone(target) as Obj[]) : [];
  const added: Obj[] = [];
  for (const item of patch as Obj[]) {
    if (item.$patch === 'delete') {
      out = out.filter((o) => o[key] !== item[key]);
      continue;
    }
    const i = out.findIndex((o) => o[key] === item[key]);
    if (i >= 0) out[i] = applyMerge(out[i], item) as Obj;
    else added.push(structuredClone(item));
  }
  out = [...added, ...out]; // patch items first, as the strategic merge does without an order
  if (order) {
    const rank = new Map((order as Obj[]).map((o, i) => [o[key], i]));
    out.sort((a, b) => (rank.get(a[key]) ?? 1e9) - (rank.get(b[key]) ?? 1e9));
  }
  return out;
}

export function applyMerge(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Obj = isObj(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/')) {
      const field = k.slice('$setElementOrder/'.length);
      if (!(field in patch)) out[field] = mergeList(field, out[field], [], v as unknown[]);
      continue;
    }
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = mergeList(k, out[k], v, patch[`$setElementOrder/${k}`] as unknown[] | undefined);
    else if (isObj(v)) out[k] = applyMerge(out[k], v);
    else out[k] = v;
  }
  return out;
}

function family(ip: string): string {
  return ip.includes(':') ? 'v6' : 'v4';
}

export class FakePods implements KubeClient {
  readonly server = 'https://fake.invalid';
  readonly pods = new Map<string, Pod>();
  readonly patches: { path: string; body: Obj; patchType: PatchType | undefined }[] = [];
  gets = 0;
  /** While true every call fails as a refused connection does (the API server is stopped). */
  down = false;
  #rv = 100;
  #fail: { method: 'GET' | 'PATCH'; code: number; reason: string; times: number }[] = [];

  add(pod: Pod): Pod {
    const p = structuredClone(pod);
    p.metadata.resourceVersion = String(++this.#rv);
    this.pods.set(`/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`, p);
    return structuredClone(p);
  }

  /** Another writer (the node lifecycle controller's PUT): replaces the status, returns the new copy. */
  writeStatus(namespace: string, name: string, mutate: (p: Pod) => void): Pod {
    const p = this.pods.get(`/api/v1/namespaces/${namespace}/pods/${name}`)!;
    mutate(p);
    p.metadata.resourceVersion = String(++this.#rv);
    return structuredClone(p);
  }

  current(namespace: string, name: string): Pod {
    return structuredClone(this.pods.get(`/api/v1/namespaces/${namespace}/pods/${name}`)!);
  }

  fail(method: 'GET' | 'PATCH', code: number, reason: string, times = 1): void {
    this.#fail.push({ method, code, reason, times });
  }

  #check(method: 'GET' | 'PATCH', path: string): void {
    if (this.down) throw new DockerletError(ErrorCodes.KUBE_UNREACHABLE, `cannot reach ${this.server}: connect ECONNREFUSED`);
    const f = this.#fail.find((x) => x.method === method && x.times > 0);
    if (!f) return;
    f.times--;
    throw apiErrorFromStatus(method, path, { code: f.code, reason: f.reason, message: `injected ${f.reason}` });
  }

  async get<T>(path: string): Promise<T> {
    this.gets++;
    this.#check('GET', path);
    const p = this.pods.get(path);
    if (!p) throw apiErrorFromStatus('GET', path, { code: 404, reason: 'NotFound', message: 'not found' });
    return structuredClone(p) as T;
  }

  async patch<T>(path: string, body: unknown, patchType?: PatchType, _opts?: RequestOptions): Promise<T> {
    this.patches.push({ path, body: structuredClone(body) as Obj, patchType });
    this.#check('PATCH', path);
    const objPath = path.replace(/\/status$/, '');
    const cur = this.pods.get(objPath);
    if (!cur) throw apiErrorFromStatus('PATCH', path, { code: 404, reason: 'NotFound', message: 'not found' });
    const b = body as { metadata?: { uid?: string }; status?: unknown };
    if (b.metadata?.uid && b.metadata.uid !== cur.metadata.uid) {
      throw apiErrorFromStatus('PATCH', path, { code: 422, reason: 'Invalid', message: 'metadata.uid: field is immutable' });
    }
    const status = applyMerge(cur.status ?? {}, b.status ?? {}) as Pod['status'] & Obj;
    const ips = (status?.podIPs ?? []).map((x) => x.ip);
    if (new Set(ips.map(family)).size !== ips.length) {
      throw apiErrorFromStatus('PATCH', path, { code: 422, reason: 'Invalid', message: `status.podIPs: Invalid value: ${JSON.stringify(ips)}: may specify no more than one IP for each IP family` });
    }
    cur.status = status;
    cur.metadata.resourceVersion = String(++this.#rv);
    return structuredClone(cur) as T;
  }

  async request<T>(): Promise<T> {
    throw new Error('not supported');
  }
  async list<T>(): Promise<T> {
    throw new Error('not supported');
  }
  async create<T>(): Promise<T> {
    throw new Error('not supported');
  }
  async update<T>(): Promise<T> {
    throw new Error('not supported');
  }
  async delete<T>(): Promise<T> {
    throw new Error('not supported');
  }
  async watchOnce(): Promise<WatchEnd> {
    return { reason: 'closed', transport: 'http' };
  }
  close(): void {}
}
