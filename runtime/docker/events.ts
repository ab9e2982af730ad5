// Docker events (the Evented PLEG's runtime event stream, on Docker's GET /events): managed containers'
// lifecycle, and image changes that invalidate the image-presence cache; long-lived streams, reconnected
// with backoff and replayed from the last event seen.
import type Dockerode from 'dockerode';
import { jittered } from '../../lib/backoff.js';
import { delay } from '../../lib/lifecycle.js';
import type { Logger } from '../../lib/log.js';
import { Labels } from '../naming.js';
import type { RuntimeEvent } from '../types.js';

/** Container actions that change what listManaged would report. */
export const WATCHED_ACTIONS = ['create', 'start', 'die', 'oom', 'kill', 'stop', 'destroy', 'pause', 'unpause', 'rename'];

/** Image actions after which a cached "present" may be wrong (or a missing image may now be there). */
export const IMAGE_ACTIONS = ['pull', 'tag', 'untag', 'delete', 'import', 'load'];

const INITIAL_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

interface DockerEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  timeNano?: number;
}

/** Parses one line of the events stream; undefined for blank or non-container lines. */
export function parseEventLine(line: string): (RuntimeEvent & { timeSec?: number }) | undefined {
  const text = line.trim();
  if (!text) return undefined;
  let ev: DockerEvent;
  try {
    ev = JSON.parse(text) as DockerEvent;
  } catch {
    return undefined;
  }
  const id = ev.Actor?.ID;
  if (ev.Type !== 'container' || !id || !ev.Action) return undefined;
  const out: RuntimeEvent & { timeSec?: number } = { id, action: ev.Action };
  const podUid = ev.Actor?.Attributes?.[Labels.podUid];
  if (podUid) out.podUid = podUid;
  if (typeof ev.timeNano === 'number') out.timeSec = Math.floor(ev.timeNano / 1e9);
  return out;
}

/** Streams managed containers' events until signal aborts; each (re)connection replays from the last event seen. */
export function watchEvents(
  docker: Dockerode,
  log: Logger,
  signal: AbortSignal,
  onEvent: (e: RuntimeEvent) => void,
  onConnected?: (connected: boolean) => void,
): Promise<void> {
  const filters = { type: ['container'], label: [Labels.podUid], event: WATCHED_ACTIONS };
  return streamEvents(docker, log, signal, filters, (line) => {
    const ev = parseEventLine(line);
    if (!ev) return undefined;
    const { timeSec, ...event } = ev;
    onEvent(event);
    return timeSec;
  }, onConnected);
}

/** Streams image events (pull, tag, untag, delete, import, load) until signal aborts. */
export function watchImageEvents(
  docker: Dockerode,
  log: Logger,
  signal: AbortSignal,
  onEvent: (action: string, ref: string) => void,
  onConnected?: (connected: boolean) => void,
): Promise<void> {
  return streamEvents(docker, log, signal, { type: ['image'], event: IMAGE_ACTIONS }, (line) => {
    let ev: DockerEvent;
    try {
      ev = JSON.parse(line) as DockerEvent;
    } catch {
      return undefined;
    }
    if (ev.Type !== 'image' || !ev.Action) return undefined;
    onEvent(ev.Action, ev.Actor?.ID ?? '');
    return typeof ev.timeNano === 'number' ? Math.floor(ev.timeNano / 1e9) : undefined;
  }, onConnected);
}

/**
 * One filtered GET /events stream, line by line (onLine returns the event's time in seconds, for the
 * replay on reconnection). onConnected(true) once connected, false when the stream broke.
 */
async function streamEvents(
  docker: Dockerode,
  log: Logger,
  signal: AbortSignal,
  filters: Record<string, string[]>,
  onLine: (line: string) => number | undefined,
  onConnected?: (connected: boolean) => void,
): Promise<void> {
  let backoff = INITIAL_BACKOFF_MS;
  let sinceSec: number | undefined;
  while (!signal.aborted) {
    let received = false;
    let connected = false;
    try {
      const opts: Record<string, unknown> = { filters, abortSignal: signal };
      if (sinceSec !== undefined) opts.since = sinceSec;
      const stream = (await docker.getEvents(opts)) as NodeJS.ReadableStream;
      connected = true;
      onConnected?.(true);
      let rest = '';
      for await (const chunk of stream as AsyncIterable<Buffer | string>) {
        rest += chunk.toString();
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl).trim();
          rest = rest.slice(nl + 1);
          if (!line) continue;
          const timeSec = onLine(line);
          received = true;
          if (timeSec !== undefined) sinceSec = timeSec;
        }
      }
      if (!signal.aborted) log.info({ filters: filters.type }, 'docker event stream ended; reconnecting');
    } catch (err) {
      if (signal.aborted) break;
      log.warn({ err, filters: filters.type }, 'docker event stream failed; reconnecting');
    } finally {
      if (connected) onConnected?.(false);
    }
    if (received) backoff = INITIAL_BACKOFF_MS;
    await delay(jittered(backoff), signal);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}
