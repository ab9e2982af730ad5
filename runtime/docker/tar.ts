// Minimal tar reading for GET /containers/{id}/archive of one file: skip PAX/GNU metadata entries,
// return the first regular file's contents (up to maxBytes).
import { DockerletError, ErrorCodes } from '../../lib/errors.js';

const BLOCK = 512;

export interface TarEntryHeader {
  name: string;
  size: number;
  /** ustar typeflag: '0' regular, '5' dir, 'x'/'g' PAX, 'L'/'K' GNU long names, … */
  type: string;
}

/** Parses a 512-byte ustar header; undefined for the all-zero end-of-archive block. */
export function parseHeader(block: Buffer): TarEntryHeader | undefined {
  if (block.length < BLOCK) throw new DockerletError(ErrorCodes.RUNTIME, 'short tar header');
  if (block.every((b) => b === 0)) return undefined;
  const name = cstring(block.subarray(0, 100));
  const prefix = block.subarray(257, 263).toString('latin1').startsWith('ustar') ? cstring(block.subarray(345, 500)) : '';
  const type = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
  return { name: prefix ? `${prefix}/${name}` : name, size: parseSize(block.subarray(124, 136)), type };
}

function cstring(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end === -1 ? b.length : end).toString('utf8');
}

/** Octal, or GNU base-256 when the top bit of the first byte is set. */
function parseSize(field: Buffer): number {
  if ((field[0]! & 0x80) !== 0) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  const n = text ? parseInt(text, 8) : 0;
  if (Number.isNaN(n)) throw new DockerletError(ErrorCodes.RUNTIME, `bad tar size field ${JSON.stringify(text)}`);
  return n;
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

const METADATA_TYPES = new Set(['x', 'g', 'L', 'K']);

/**
 * Reads the first regular file from a tar stream, stopping (and destroying the stream) once
 * maxBytes of it are read. Returns undefined when the archive holds no regular file.
 */
export async function readFirstFile(stream: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer | undefined> {
  let buf = Buffer.alloc(0);
  let header: TarEntryHeader | undefined;
  let skip = 0; // bytes of a metadata entry (padded) still to drop
  try {
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      buf = Buffer.concat([buf, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, buf.length);
          buf = buf.subarray(n);
          skip -= n;
          if (skip > 0) break;
        }
        if (!header) {
          if (buf.length < BLOCK) break;
          const h = parseHeader(buf.subarray(0, BLOCK));
          buf = buf.subarray(BLOCK);
          if (!h) return undefined;
          if (h.type === '0' || h.type === '7') header = h;
          else if (METADATA_TYPES.has(h.type) || h.type === '5') skip = padded(h.size);
          else return undefined; // a link or device: not a regular file
          continue;
        }
        const want = Math.min(header.size, Math.max(0, maxBytes));
        if (buf.length >= want) return Buffer.from(buf.subarray(0, want));
        break;
      }
    }
  } finally {
    (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }
  if (header) return Buffer.from(buf.subarray(0, Math.min(header.size, maxBytes, buf.length)));
  return undefined;
}
