// Large read buffers for bulk directions of the raw data path (one per promoted leg, returned when
// its connection ends). Process-wide and bounded: beyond the limit a leg keeps 64 KiB reads.

export const BULK_BUFFER_SIZE = 1 << 20;
export const BULK_BUFFER_LIMIT = 64;

export class BulkBufferPool {
  static readonly shared = new BulkBufferPool(BULK_BUFFER_SIZE, BULK_BUFFER_LIMIT);
  readonly size: number;
  readonly limit: number;
  #free: Buffer[] = [];
  #out = 0;
  /** Buffers handed out since start (a counter for tests and metrics). */
  takenTotal = 0;

  constructor(size: number, limit: number) {
    this.size = size;
    this.limit = limit;
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
    // Keep a few for reuse; the rest go back to the allocator.
    if (this.#free.length < 8) this.#free.push(buf);
  }

  get inUse(): number {
    return this.#out;
  }
}
