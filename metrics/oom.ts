// container_oom_events_total, counted so that it survives what resets cAdvisor's counter (its issue
// #3015: an in-memory count keyed by container, lost on restart and on every new container).
// Counts are keyed by a stable identity (namespace/pod/container for pod containers, the Docker name
// otherwise), so a restarted container keeps its count; they are persisted under a state dir.
// Sources: the kernel's counter (v2 memory.events oom_kill, v1 memory.oom_control oom_kill) while the
// cgroup can be read, and Docker's 'oom' events for what happened after the last read of a cgroup
// that is gone (a container whose init was OOM-killed exits before the next housekeeping).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface Persisted {
  version: 1;
  /** identity → total count. */
  totals: Record<string, number>;
  /** container id → { identity, last kernel counter read, when (ms) }. */
  seen: Record<string, { key: string; kernel: number; at: number }>;
  /** Epoch ms of the last save: Docker events since then are replayed on start. */
  savedAt: number;
}

export class OomTracker {
  #file: string | undefined;
  #state: Persisted = { version: 1, totals: {}, seen: {}, savedAt: 0 };
  /** container id → Docker oom events newer than the last kernel read. */
  #pending = new Map<string, number>();
  #dirty = false;

  /** stateDir undefined: counts live in memory only. */
  constructor(stateDir?: string) {
    this.#file = stateDir ? join(stateDir, 'oom-events.json') : undefined;
  }

  /** Loads the persisted counts; a missing or unreadable file starts from zero. */
  load(): void {
    if (!this.#file) return;
    try {
      const s = JSON.parse(readFileSync(this.#file, 'utf8')) as Persisted;
      if (s && s.version === 1 && typeof s.totals === 'object' && typeof s.seen === 'object') this.#state = s;
    } catch { /* first start */ }
  }

  /** When the counts were last saved (epoch ms), to replay Docker events from. */
  get savedAt(): number {
    return this.#state.savedAt;
  }

  /** The count for an identity. */
  total(key: string): number {
    return this.#state.totals[key] ?? 0;
  }

  /** Notes a Docker 'oom' event (time in ms) for a container id and its identity. */
  event(id: string, key: string, at: number): void {
    const seen = this.#state.seen[id];
    if (seen && at <= seen.at) return; // the kernel counter read at seen.at already covers it
    if (!seen) this.#state.seen[id] = { key, kernel: 0, at: 0 };
    this.#pending.set(id, (this.#pending.get(id) ?? 0) + 1);
  }

  /**
   * Records a kernel counter read for a running container. A container id seen for the first time
   * starts from 0 (its cgroup is new), so kills before the agent saw it still count.
   */
  kernel(id: string, key: string, value: number, at: number): void {
    const seen = this.#state.seen[id] ?? { key, kernel: 0, at: 0 };
    // A counter below the last read means a new cgroup (the container restarted unseen): all of it is new.
    const delta = value >= seen.kernel ? value - seen.kernel : value;
    if (delta > 0) {
      this.#state.totals[key] = (this.#state.totals[key] ?? 0) + delta;
      this.#dirty = true;
    }
    this.#state.seen[id] = { key, kernel: value, at };
    this.#pending.delete(id); // the kernel counter covers every kill up to this read
  }

  /**
   * The container (same id) started again at `at` (Docker 'start' event): its old cgroup is gone, so
   * Docker events since the last read count now, and the new cgroup's counter starts from 0.
   */
  restarted(id: string, key: string, at: number): void {
    const seen = this.#state.seen[id];
    if (seen && at <= seen.at) return; // replayed: a later read already saw the new cgroup
    this.#flushPending(id, key);
    this.#state.seen[id] = { key, kernel: 0, at };
    this.#dirty = true;
  }

  /** A running container without a kernel counter: its Docker events count directly. */
  noKernel(id: string, key: string): void {
    this.#flushPending(id, key);
  }

  /** Containers that are gone: their Docker events after the last read count, and they are forgotten. */
  gone(liveIds: Set<string>): void {
    for (const id in this.#state.seen) {
      if (liveIds.has(id)) continue;
      this.#flushPending(id, this.#state.seen[id]!.key);
      delete this.#state.seen[id];
      this.#dirty = true;
    }
  }

  #flushPending(id: string, key: string): void {
    const n = this.#pending.get(id);
    if (!n) return;
    this.#state.totals[key] = (this.#state.totals[key] ?? 0) + n;
    this.#pending.delete(id);
    this.#dirty = true;
  }

  /** Writes the state (atomically) if anything changed or `force`. */
  save(now: number, force = false): boolean {
    if (!this.#file || (!this.#dirty && !force)) return false;
    this.#state.savedAt = now;
    mkdirSync(join(this.#file, '..'), { recursive: true });
    const tmp = `${this.#file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.#state));
    renameSync(tmp, this.#file);
    this.#dirty = false;
    return true;
  }
}
