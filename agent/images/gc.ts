// Image garbage collection by disk usage, as upstream pkg/kubelet/images/image_gc_manager.go: every
// period (5 min) the image filesystem's usage is read; at or above imageGCHighThresholdPercent (85) it
// frees capacity × (100 − imageGCLowThresholdPercent (80)) / 100 − available bytes, removing images
// that no container (running or not) uses and that are not pinned (the pause image), least recently
// used first (then first detected), none younger than imageMinimumGCAge (2 min) since first seen.
// Falling short is an error and a FreeDiskSpaceFailed Warning on the node. planImageGC is the pure
// plan; ImageGC applies it.
import type { Clock } from '../../lib/clock.js';
import { systemClock } from '../../lib/clock.js';
import { DockerletError, ErrorCodes } from '../../lib/errors.js';
import type { Lifecycle } from '../../lib/lifecycle.js';
import { partLogger, type Logger } from '../../lib/log.js';

export interface GCImage {
  id: string;
  sizeBytes: number;
  repoTags: string[];
}

export interface ImageRecord {
  firstDetectedMs: number;
  lastUsedMs: number;
}

export interface ImageGCPolicy {
  highThresholdPercent: number;
  lowThresholdPercent: number;
  minAgeMs: number;
}

export const DEFAULT_IMAGE_GC_POLICY: Readonly<ImageGCPolicy> = Object.freeze({ highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 120_000 });

/** Bytes to free for the usage (0 below the high threshold). */
export function bytesToFree(capacityBytes: number, availableBytes: number, policy: ImageGCPolicy): number {
  if (capacityBytes <= 0) return 0;
  const usagePercent = 100 - Math.trunc((availableBytes * 100) / capacityBytes);
  if (usagePercent < policy.highThresholdPercent) return 0;
  return Math.max(0, Math.trunc((capacityBytes * (100 - policy.lowThresholdPercent)) / 100) - availableBytes);
}

/** upstream detectImages: records for the images now present; in-use ones are stamped as used now. */
export function updateRecords(records: Map<string, ImageRecord>, images: readonly GCImage[], inUse: ReadonlySet<string>, nowMs: number): void {
  const present = new Set(images.map((i) => i.id));
  for (const id of [...records.keys()]) if (!present.has(id)) records.delete(id);
  for (const i of images) {
    let r = records.get(i.id);
    if (!r) {
      r = { firstDetectedMs: nowMs, lastUsedMs: 0 };
      records.set(i.id, r);
    }
    if (inUse.has(i.id)) r.lastUsedMs = nowMs;
  }
}

/** upstream freeSpace's choice: the images to remove, in order, and the bytes they free. */
export function planImageGC(input: {
  images: readonly GCImage[];
  records: ReadonlyMap<string, ImageRecord>;
  inUse: ReadonlySet<string>;
  pinned: ReadonlySet<string>;
  nowMs: number;
  minAgeMs: number;
  bytesToFree: number;
}): { remove: GCImage[]; freedBytes: number } {
  const candidates = input.images
    .filter((i) => !input.inUse.has(i.id) && !input.pinned.has(i.id) && !i.repoTags.some((t) => input.pinned.has(t)))
    .map((i) => ({ image: i, record: input.records.get(i.id) ?? { firstDetectedMs: input.nowMs, lastUsedMs: 0 } }))
    .sort((a, b) => a.record.lastUsedMs - b.record.lastUsedMs || a.record.firstDetectedMs - b.record.firstDetectedMs);
  const remove: GCImage[] = [];
  let freedBytes = 0;
  for (const { image, record } of candidates) {
    if (freedBytes >= input.bytesToFree) break;
    if (input.nowMs - record.firstDetectedMs < input.minAgeMs) continue;
    remove.push(image);
    freedBytes += image.sizeBytes;
  }
  return { remove, freedBytes };
}

export interface ImageGCDeps {
  listImages(): Promise<GCImage[]>;
  /** Image ids used by any container (running or not). */
  imagesInUse(): Promise<Set<string>>;
  removeImage(id: string): Promise<void>;
  imageFsStats(): Promise<{ capacityBytes: number; availableBytes: number }>;
  /** Image references never removed (the pause image). */
  pinned?: readonly string[];
  /** A Warning on the node (FreeDiskSpaceFailed). */
  nodeEvent?(type: 'Warning', reason: string, message: string): void;
  clock?: Clock;
  log?: Logger;
  /** 5 min upstream (ImageGCPeriod). */
  periodMs?: number;
  policy?: ImageGCPolicy;
}

export interface ImageGCResult {
  usagePercent: number;
  bytesToFree: number;
  removed: string[];
  freedBytes: number;
}

export class ImageGC implements Lifecycle {
  readonly #deps: ImageGCDeps;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #policy: ImageGCPolicy;
  readonly #records = new Map<string, ImageRecord>();
  #timer: { cancel(): void } | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;

  constructor(deps: ImageGCDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#log = partLogger(deps.log, 'image-gc');
    this.#policy = deps.policy ?? DEFAULT_IMAGE_GC_POLICY;
    if (this.#policy.lowThresholdPercent > this.#policy.highThresholdPercent) {
      throw new DockerletError(ErrorCodes.CONFIG_INVALID, `imageGCLowThresholdPercent (${this.#policy.lowThresholdPercent}) must not be above imageGCHighThresholdPercent (${this.#policy.highThresholdPercent})`);
    }
  }

  async start(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => void this.stop(), { once: true });
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    await this.#running?.catch(() => undefined);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#running = this.garbageCollect()
        .catch((err: unknown) => this.#log.warn({ err }, 'image garbage collection failed'))
        .finally(() => this.#schedule(this.#deps.periodMs ?? 300_000));
    }, ms);
  }

  /** One pass (upstream GarbageCollect); rejects (RUNTIME, details.reason FreeDiskSpaceFailed) when it could not free enough. */
  async garbageCollect(): Promise<ImageGCResult> {
    const now = this.#clock.now();
    const [images, inUse, fs] = await Promise.all([this.#deps.listImages(), this.#deps.imagesInUse(), this.#deps.imageFsStats()]);
    updateRecords(this.#records, images, inUse, now);
    const usagePercent = fs.capacityBytes > 0 ? 100 - Math.trunc((fs.availableBytes * 100) / fs.capacityBytes) : 0;
    const need = bytesToFree(fs.capacityBytes, fs.availableBytes, this.#policy);
    const result: ImageGCResult = { usagePercent, bytesToFree: need, removed: [], freedBytes: 0 };
    if (need === 0) return result;
    this.#log.info({ usagePercent, highThresholdPercent: this.#policy.highThresholdPercent, bytesToFree: need }, 'image filesystem usage over the high threshold; removing unused images');
    const pinned = new Set(this.#deps.pinned ?? []);
    const plan = planImageGC({ images, records: this.#records, inUse, pinned, nowMs: now, minAgeMs: this.#policy.minAgeMs, bytesToFree: need });
    for (const image of plan.remove) {
      try {
        await this.#deps.removeImage(image.id);
        this.#records.delete(image.id);
        result.removed.push(image.id);
        result.freedBytes += image.sizeBytes;
        this.#log.info({ image: image.id, tags: image.repoTags, size: image.sizeBytes }, 'removed unused image');
      } catch (err) {
        this.#log.warn({ image: image.id, err }, 'image not removed');
      }
    }
    if (result.freedBytes < need) {
      const message = `Failed to garbage collect required amount of images. Attempted to free ${need} bytes, but only found ${result.freedBytes} bytes eligible to free.`;
      this.#deps.nodeEvent?.('Warning', 'FreeDiskSpaceFailed', message);
      throw new DockerletError(ErrorCodes.RUNTIME, message, { details: { reason: 'FreeDiskSpaceFailed', ...result } });
    }
    return result;
  }
}
