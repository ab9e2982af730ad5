// Docker events for managed containers: a long-lived GET /events stream, reconnected with backoff.
import type Dockerode from 'dockerode';
import { jittered } from '../../lib/backoff.js';
import { delay } from '../../lib/lifecycle.js';
import type { Logger } from '../../lib/log.js';
import { Labels } from '../naming.js';
import type { RuntimeEvent } from '../types.js';

/** Container actions that change what listManaged would report. */
export const WATCHED_ACTIONS = ['create', 'start', 'die', 'oom', 'kill', 'stop', 'destroy', 'pause', 'unpause', 'rename'];

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

/** Streams events until signal aborts; each (re)connection replays from the last event seen. */
export async function watchEvents(
  docker: Dockerode,
  log: Logger,
  signal: AbortSignal,
  onEvent: (e: RuntimeEvent) => void,
): Promise<void> {
  let backoff = INITIAL_BACKOFF_MS;
  let sinceSec: number | undefined;
  while (!signal.aborted) {
    let received = false;
    try {
      const opts: Record<string, unknown> = {
        filters: { type: ['container'], label: [Labels.podUid], event: WATCHED_ACTIONS },
        abortSignal: signal,
      };
      if (sinceSec !== undefined) opts.since = sinceSec;
      const stream = (await docker.getEvents(opts)) as NodeJS.ReadableStream;
      let rest = '';
      for await (const chunk of stream as AsyncIterable<Buffer | string>) {
        rest += chunk.toString();
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          const ev = parseEventLine(line);
          if (!ev) continue;
          received = true;
          const { timeSec, ...event } = ev;
          if (timeSec !== undefined) sinceSec = timeSec;
          onEvent(event);
        }
      }
      if (!signal.aborted) log.info('docker event stream ended; reconnecting');
    } catch (err) {
      if (signal.aborted) break;
      log.warn({ err }, 'docker event stream failed; reconnecting');
    }
    if (received) backoff = INITIAL_BACKOFF_MS;
    await delay(jittered(backoff), signal);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}
