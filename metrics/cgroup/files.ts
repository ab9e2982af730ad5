// Reading kernel interface files (cgroupfs, procfs) the cheap way, for cAdvisor's housekeeping
// (manager/container.go updateStats reads the same files every interval). cgroup and /proc/<pid>/net
// files are seq_files: a pread at offset 0 makes the kernel generate the text again
// (fs/seq_file.c seq_read_iter resets its iterator when ki_pos == 0), so a file read every pass is
// opened once and pread into one shared buffer afterwards: no path walk, no open/close per pass.
// A cgroup file whose cgroup was removed answers ENODEV (kernfs deactivates it); a /proc/<pid>/net
// file keeps its network namespace alive while open, so owners' fds are closed as soon as the
// collector stops seeing the container (retain()). Missing files give undefined, never an exception.
import { closeSync, openSync, readSync } from 'node:fs';

const MISSING_RETRY_MS = 300_000;

/** One buffer for every read: interface files are small (memory.stat is ~1 KiB, net/dev a few). */
const BUF = Buffer.allocUnsafe(64 * 1024);

/** Reads a whole file at offset 0 into BUF; returns its length (a short read is the end, see readSmall). */
function preadAll(fd: number): number {
  let len = 0;
  for (;;) {
    const want = BUF.length - len;
    const n = readSync(fd, BUF, len, want, len);
    if (n <= 0) break;
    len += n;
    // seq_file fills the whole buffer while records remain: a short read is the end, which spares
    // the extra read() that would return 0.
    if (n < want || len === BUF.length) break;
  }
  return len;
}

/** open + read + close, for files read once (or rarely); undefined when it cannot be read. */
export function readSmall(path: string): string | undefined {
  const n = readOnce(path);
  return n < 0 ? undefined : BUF.toString('utf8', 0, n);
}

function readOnce(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return -1;
  }
  try {
    return preadAll(fd);
  } catch {
    return -1;
  } finally {
    closeSync(fd);
  }
}

/** The decimal number at the start of BUF[0, len) (a single-value file such as cpuacct.usage). */
function leadingNumber(len: number): number | undefined {
  let i = 0;
  while (i < len && (BUF[i] === 32 || BUF[i] === 10)) i++;
  let v = 0;
  let digits = 0;
  for (; i < len; i++) {
    const c = BUF[i]!;
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
    digits++;
  }
  return digits === 0 ? undefined : v;
}

/**
 * Kernel files kept open between housekeeping passes, each under an owner (a cgroup path, a pid):
 * `retain` closes the fds of owners no longer measured. At most `maxOpen` fds are kept; past that a
 * file is read with open/read/close, as without the cache.
 */
export class OpenFiles {
  readonly #maxOpen: number;
  readonly #fds = new Map<string, number>();
  readonly #owners = new Map<string, string[]>();
  /** Paths that could not be opened (a controller file this kernel lacks), not tried again until then (ms). */
  readonly #missing = new Map<string, number>();

  constructor(maxOpen = 4096) {
    this.#maxOpen = maxOpen;
  }

  /** Open fds kept (tests, gauges). */
  get size(): number {
    return this.#fds.size;
  }

  /** Reads `path` into the shared buffer; its length, or -1 when it cannot be read. */
  #read(owner: string, path: string): number {
    const fd = this.#fds.get(path);
    if (fd !== undefined) {
      try {
        return preadAll(fd);
      } catch {
        // ENODEV: the cgroup was removed (a container restarted under the same path gets a new
        // directory): drop the fd, forget which of its files were missing, and try the path again.
        this.#forget(path, fd);
        for (const p of this.#owners.get(owner) ?? []) this.#missing.delete(p);
      }
    }
    const retry = this.#missing.get(path);
    if (retry !== undefined) {
      if (performance.now() < retry) return -1;
      this.#missing.delete(path);
    }
    if (this.#fds.size >= this.#maxOpen) return readOnce(path);
    let nfd: number;
    try {
      nfd = openSync(path, 'r');
    } catch {
      // A failed open throws (an Error with its stack): remember it for a while, it is not free.
      this.#missing.set(path, performance.now() + MISSING_RETRY_MS);
      this.#own(owner, path);
      return -1;
    }
    try {
      const n = preadAll(nfd);
      this.#fds.set(path, nfd);
      this.#own(owner, path);
      return n;
    } catch {
      closeSync(nfd);
      return -1;
    }
  }

  #own(owner: string, path: string): void {
    const paths = this.#owners.get(owner);
    if (!paths) this.#owners.set(owner, [path]);
    else if (!paths.includes(path)) paths.push(path);
  }

  #forget(path: string, fd: number): void {
    this.#fds.delete(path);
    try {
      closeSync(fd);
    } catch { /* already closed */ }
  }

  /** The file's text, or undefined. */
  text(owner: string, path: string): string | undefined {
    const n = this.#read(owner, path);
    return n < 0 ? undefined : BUF.toString('utf8', 0, n);
  }

  /** A single-value file's number without making a string, or undefined. */
  number(owner: string, path: string): number | undefined {
    const n = this.#read(owner, path);
    return n < 0 ? undefined : leadingNumber(n);
  }

  /**
   * The file's bytes when they differ from `last` (a fresh copy), `last` itself when equal, or
   * undefined when unreadable: an unchanged /proc/<pid>/net/dev costs a pread and a compare.
   */
  bytes(owner: string, path: string, last: Buffer | undefined): Buffer | undefined {
    const n = this.#read(owner, path);
    if (n < 0) return undefined;
    if (last && last.length === n && BUF.compare(last, 0, n, 0, n) === 0) return last;
    return Buffer.from(BUF.subarray(0, n));
  }

  /** Closes the fds of every owner not in `live`. */
  retain(live: Set<string>): void {
    for (const [owner, paths] of this.#owners) {
      if (live.has(owner)) continue;
      for (const p of paths) {
        const fd = this.#fds.get(p);
        if (fd !== undefined) this.#forget(p, fd);
        this.#missing.delete(p);
      }
      this.#owners.delete(owner);
    }
  }

  /** Closes every fd. */
  close(): void {
    this.retain(new Set());
  }
}
