// Splits a byte stream into text lines (newline-delimited JSON of a chunked watch). Handles lines
// and multi-byte UTF-8 characters split across chunks; ignores blank lines and a trailing \r.
import { StringDecoder } from 'node:string_decoder';

export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  readonly #onLine: (line: string) => void;
  #buf = '';

  constructor(onLine: (line: string) => void) {
    this.#onLine = onLine;
  }

  /** Feeds one chunk; calls onLine for every complete line it finishes. */
  push(chunk: Buffer | string): void {
    this.#buf += typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    let start = 0;
    let nl: number;
    while ((nl = this.#buf.indexOf('\n', start)) >= 0) {
      this.#emit(this.#buf.slice(start, nl));
      start = nl + 1;
    }
    if (start > 0) this.#buf = this.#buf.slice(start);
  }

  /** Flushes a final unterminated line, if any. */
  end(): void {
    this.#buf += this.#decoder.end();
    const rest = this.#buf;
    this.#buf = '';
    this.#emit(rest);
  }

  /** Bytes of an unfinished line held back. */
  get pending(): number {
    return this.#buf.length;
  }

  #emit(line: string): void {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (l.trim().length > 0) this.#onLine(l);
  }
}
