// One response body per snapshot for the scrape endpoints (/metrics/cadvisor, /metrics/resource,
// standalone /metrics): the text is formatted once per housekeeping into a Buffer, gzipped once when
// a client accepts gzip (Prometheus always sends Accept-Encoding: gzip, as client_golang's promhttp
// answers it), and every scrape until the next housekeeping sends the prebuilt bytes. While someone
// scrapes (the previous snapshot's body was sent), the next body is built right after its
// housekeeping, so scrapes never format; an endpoint nobody reads costs nothing.
import { constants, gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Snapshot } from '../types.js';
import { CONTENT_TYPE } from './text.js';

export interface Body {
  body: Buffer;
  /** Set when `body` is gzip-compressed (send Content-Encoding: gzip). */
  encoding?: 'gzip';
}

/** Whether an Accept-Encoding header admits gzip (a q=0 refuses it; `*` admits it). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(',') : header ?? '';
  for (const part of value.split(',')) {
    const [coding, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    if (coding !== 'gzip' && coding !== '*') continue;
    const q = params.find((p) => p.startsWith('q='));
    if (q !== undefined && !(Number(q.slice(2)) > 0)) continue;
    return true;
  }
  return false;
}

export class BodyCache {
  readonly #format: (s: Snapshot) => string;
  #snap: Snapshot | undefined;
  #plain: Buffer = Buffer.alloc(0);
  #gzip: Buffer | undefined;
  /** Whether the current body was sent (plain or gzip) since it was built. */
  #sent = false;
  #sentGzip = false;
  /** Bodies built so far (tests and the housekeeping gauge). */
  builds = 0;

  constructor(format: (s: Snapshot) => string) {
    this.#format = format;
  }

  #build(snap: Snapshot, gzip: boolean): void {
    if (this.#snap !== snap) {
      this.#snap = snap;
      this.#plain = Buffer.from(this.#format(snap), 'utf8');
      this.#gzip = undefined;
      this.#sent = false;
      this.#sentGzip = false;
      this.builds++;
    }
    if (gzip) this.#gzip ??= gzipSync(this.#plain, { level: constants.Z_BEST_SPEED });
  }

  /** The body for a snapshot, built on first use. */
  get(snap: Snapshot, gzip: boolean): Body {
    this.#build(snap, gzip);
    this.#sent = true;
    if (!gzip) return { body: this.#plain };
    this.#sentGzip = true;
    return { body: this.#gzip!, encoding: 'gzip' };
  }

  /** A new snapshot: prebuilds its body (gzipped too if the last one went out gzipped) when the last one was sent. */
  warm(snap: Snapshot): void {
    if (!this.#sent || this.#snap === snap) return;
    this.#build(snap, this.#sentGzip);
  }
}

/** Sends a snapshot's cached body as Prometheus text, gzipped when the request accepts it. */
export function sendBody(req: FastifyRequest, reply: FastifyReply, cache: BodyCache, snap: Snapshot): FastifyReply {
  const { body, encoding } = cache.get(snap, acceptsGzip(req.headers['accept-encoding']));
  reply.type(CONTENT_TYPE).header('vary', 'Accept-Encoding');
  if (encoding) reply.header('content-encoding', encoding);
  return reply.send(body);
}

/** A body cache for a collector's snapshots that prebuilds after each housekeeping while scraped. */
export function snapshotBodies(source: { onSnapshot(fn: (s: Snapshot) => void): () => void }, format: (s: Snapshot) => string): BodyCache {
  const cache = new BodyCache(format);
  source.onSnapshot((s) => cache.warm(s));
  return cache;
}
