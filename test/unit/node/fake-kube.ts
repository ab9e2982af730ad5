// A narrow in-memory KubeClient for node/lease/event unit tests: objects keyed by path, resourceVersion
// bumped on every write, Conflict on a stale update, a simplified strategic merge (lists of conditions
// and addresses merge by type), and injectable failures. Not a general API-server fake.
import type { KubeObject, List } from '../../../kube/api.js';
import { apiErrorFromStatus } from '../../../kube/errors.js';
import type { KubeClient, PatchType, RequestOptions, WatchEnd } from '../../../kube/types.js';

export interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
  patchType?: PatchType;
}

type Failure = { method: Call['method']; path: RegExp; code: number; reason: string; times: number };

const MERGE_KEYS: Record<string, string> = { conditions: 'type', addresses: 'type' };

function merge(target: unknown, patch: unknown, key?: string): unknown {
  if (Array.isArray(patch)) {
    const mk = key ? MERGE_KEYS[key] : undefined;
    if (!mk || !Array.isArray(target)) return structuredClone(patch);
    const out = structuredClone(target) as Record<string, unknown>[];
    for (const item of patch as Record<string, unknown>[]) {
      const i = out.findIndex((o) => o[mk] === item[mk]);
      if (i >= 0) out[i] = merge(out[i], item) as Record<string, unknown>;
      else out.push(structuredClone(item));
    }
    return out;
  }
  if (patch && typeof patch === 'object') {
    const out: Record<string, unknown> = target && typeof target === 'object' && !Array.isArray(target)
      ? structuredClone(target as Record<string, unknown>) : {};
    for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
      if (v === null) delete out[k];
      else out[k] = merge(out[k], v, k);
    }
    return out;
  }
  return patch;
}

export class FakeKube implements KubeClient {
  readonly server = 'https://fake.invalid';
  readonly objects = new Map<string, KubeObject>();
  readonly calls: Call[] = [];
  #rv = 1;
  #uid = 1;
  #failures: Failure[] = [];

  /** The next `times` calls matching method+path fail with this HTTP status. */
  fail(method: Call['method'], path: RegExp, code: number, reason: string, times = 1): void {
    this.#failures.push({ method, path, code, reason, times });
  }

  callsOf(method: Call['method'], path?: RegExp): Call[] {
    return this.calls.filter((c) => c.method === method && (!path || path.test(c.path)));
  }

  #check(method: Call['method'], path: string): void {
    const f = this.#failures.find((x) => x.method === method && x.path.test(path) && x.times > 0);
    if (!f) return;
    f.times--;
    throw apiErrorFromStatus(method, path, { code: f.code, reason: f.reason, message: `injected ${f.reason}` });
  }

  #err(method: string, path: string, code: number, reason: string): Error {
    return apiErrorFromStatus(method, path, { code, reason, message: `${reason} (fake)` });
  }

  #stamp<T>(o: KubeObject): T {
    o.metadata.resourceVersion = String(++this.#rv);
    return structuredClone(o) as T;
  }

  async request<T>(): Promise<T> {
    throw new Error('FakeKube.request not supported');
  }

  async get<T>(path: string): Promise<T> {
    this.calls.push({ method: 'GET', path });
    this.#check('GET', path);
    const o = this.objects.get(path);
    if (!o) throw this.#err('GET', path, 404, 'NotFound');
    return structuredClone(o) as T;
  }

  async list<T extends KubeObject>(path: string): Promise<List<T>> {
    const items = [...this.objects.entries()].filter(([k]) => k.startsWith(`${path}/`)).map(([, v]) => structuredClone(v) as T);
    return { metadata: { resourceVersion: String(this.#rv) }, items };
  }

  async create<T>(path: string, body: unknown): Promise<T> {
    this.calls.push({ method: 'POST', path, body: structuredClone(body) });
    this.#check('POST', path);
    const o = structuredClone(body) as KubeObject;
    const key = `${path}/${o.metadata.name}`;
    if (this.objects.has(key)) throw this.#err('POST', path, 409, 'AlreadyExists');
    o.metadata.uid = `uid-${this.#uid++}`;
    o.metadata.creationTimestamp = new Date().toISOString();
    this.objects.set(key, o);
    return this.#stamp<T>(o);
  }

  async update<T>(path: string, body: unknown): Promise<T> {
    this.calls.push({ method: 'PUT', path, body: structuredClone(body) });
    this.#check('PUT', path);
    const cur = this.objects.get(path);
    if (!cur) throw this.#err('PUT', path, 404, 'NotFound');
    const o = structuredClone(body) as KubeObject;
    if (o.metadata.resourceVersion && o.metadata.resourceVersion !== cur.metadata.resourceVersion) {
      throw this.#err('PUT', path, 409, 'Conflict');
    }
    o.metadata.uid = cur.metadata.uid;
    this.objects.set(path, o);
    return this.#stamp<T>(o);
  }

  async patch<T>(path: string, body: unknown, patchType: PatchType = 'strategic', _opts?: RequestOptions): Promise<T> {
    this.calls.push({ method: 'PATCH', path, body: structuredClone(body), patchType });
    this.#check('PATCH', path);
    const status = path.endsWith('/status');
    const objPath = status ? path.slice(0, -'/status'.length) : path;
    const cur = this.objects.get(objPath);
    if (!cur) throw this.#err('PATCH', path, 404, 'NotFound');
    const { status: patchStatus, ...rest } = body as Record<string, unknown>;
    const merged = status
      ? { ...cur, status: merge((cur as { status?: unknown }).status, patchStatus, 'status') }
      : merge(cur, rest);
    this.objects.set(objPath, merged as KubeObject);
    return this.#stamp<T>(merged as KubeObject);
  }

  async delete<T>(path: string): Promise<T> {
    this.calls.push({ method: 'DELETE', path });
    const o = this.objects.get(path);
    if (!o) throw this.#err('DELETE', path, 404, 'NotFound');
    this.objects.delete(path);
    return structuredClone(o) as T;
  }

  async watchOnce(): Promise<WatchEnd> {
    return { reason: 'closed', transport: 'http' };
  }

  close(): void {}
}

/** Lets pending promise chains run (the fake answers asynchronously but without timers). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}
