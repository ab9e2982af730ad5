// Read buffers of the raw data path, one per leg, returned when its connection ends. Process-wide
// and bounded: beyond the limit a leg reads into fresh buffers from Node's allocator.
// - small: every connected leg reads into one from the start (no allocation per read);
// - bulk: a direction that has moved BULK_AFTER bytes switches to one (fewer, larger reads).

export const SMALL_BUFFER_SIZE = 16 << 10;
export const SMALL_BUFFER_LIMIT = 4096;
export const BULK_BUFFER_SIZE = 1 << 20;
export const BULK_BUFFER_LIMIT = 64;

export class BufferPool {
  static readonly small = new BufferPool(SMALL_BUFFER_SIZE, SMALL_BUFFER_LIMIT, 512);
  static readonly bulk = new BufferPool(BULK_BUFFER_SIZE, BULK_BUFFER_LIMIT, 8);
  readonly size: number;
  readonly limit: number;
  readonly #keep: number;
  #free: Buffer[] = [];
  #out = 0;
  /** Buffers handed out since start (a counter for tests and metrics). */
  takenTotal = 0;

  /** keep: freed buffers kept for reuse (the rest go back to the allocator). */
  constructor(size: number, limit: number, keep: number) {
    this.size = size;
    this.limit = limit;
    this.#keep = keep;
  }

  /** A buffer, or null when `limit` are in use. */
  take(): Buffer | null {
    if (this.#out >= this.limit) return null;
    this.#out++;
    this.takenTotal++;
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buf: Buffer): void {
    this.#out--;
    if (this.#free.length < this.#keep) this.#free.push(buf);
  }

  get inUse(): number {
    return this.#out;
  }
}
