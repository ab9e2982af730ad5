// A counting semaphore with FIFO hand-off: at most `limit` holders run at once.

export class Semaphore {
  readonly #limit: number;
  #held = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`semaphore limit must be a positive integer, got ${limit}`);
    this.#limit = limit;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#held >= this.#limit) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    else this.#held++;
    try {
      return await fn();
    } finally {
      const next = this.#waiters.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else this.#held--;
    }
  }

  get waiting(): number {
    return this.#waiters.length;
  }
}
