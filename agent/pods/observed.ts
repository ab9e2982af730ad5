// Pure views over the runtime's containers of one pod: which instance is current, which came before.
import type { ObservedContainer } from '../../runtime/types.js';

export interface PodObserved {
  /** The newest sandbox (by attempt), running or not. */
  sandbox?: ObservedContainer;
  /** Every instance of every init/app container, newest first per name. */
  byName: Map<string, ObservedContainer[]>;
  all: ObservedContainer[];
}

export function groupByPod(all: ObservedContainer[]): Map<string, ObservedContainer[]> {
  const m = new Map<string, ObservedContainer[]>();
  for (const c of all) {
    const list = m.get(c.podUid);
    if (list) list.push(c);
    else m.set(c.podUid, [c]);
  }
  return m;
}

function newestFirst(a: ObservedContainer, b: ObservedContainer): number {
  return b.attempt - a.attempt || b.restartCount - a.restartCount || b.createdAt.localeCompare(a.createdAt);
}

export function viewPod(containers: ObservedContainer[]): PodObserved {
  const sandboxes = containers.filter((c) => c.kind === 'sandbox').sort(newestFirst);
  const byName = new Map<string, ObservedContainer[]>();
  for (const c of containers) {
    if (c.kind === 'sandbox') continue;
    const list = byName.get(c.containerName) ?? [];
    list.push(c);
    byName.set(c.containerName, list);
  }
  for (const list of byName.values()) list.sort(newestFirst);
  return { sandbox: sandboxes[0], byName, all: containers };
}

export function isRunning(c: ObservedContainer | undefined): boolean {
  return c?.state === 'running';
}

/** A container that will not run again by itself (exited, dead, or created but never started). */
export function isFinished(c: ObservedContainer | undefined): boolean {
  return c !== undefined && (c.state === 'exited' || c.state === 'dead' || (c.state === 'created' && c.error !== undefined && c.error !== ''));
}

export function exitCodeOf(c: ObservedContainer): number {
  if (c.exitCode !== undefined) return c.exitCode;
  return c.state === 'created' ? 128 : 0;
}

/** A fingerprint of what status depends on, to tell whether anything changed since the last look. */
export function podFingerprint(containers: ObservedContainer[]): string {
  return containers
    .map((c) => `${c.id}:${c.state}:${c.exitCode ?? ''}:${c.startedAt ?? ''}:${c.finishedAt ?? ''}:${c.ip ?? ''}`)
    .sort()
    .join('|');
}
