// Container garbage collection (pure selection + apply): containers of pods this node no longer
// has are removed; of the rest, dead instances beyond the newest one per container are removed
// (the newest dead one stays for `kubectl logs --previous`), and dead sandboxes but the newest.
import type { ObservedContainer } from '../../runtime/types.js';
import { isRunning, viewPod } from './observed.js';

export interface GcSelection {
  orphans: ObservedContainer[];
  dead: ObservedContainer[];
}

export function selectGarbage(byPod: ReadonlyMap<string, ObservedContainer[]>, knownPods: ReadonlySet<string>, keepPerContainer = 2): GcSelection {
  const orphans: ObservedContainer[] = [];
  const dead: ObservedContainer[] = [];
  for (const [uid, containers] of byPod) {
    if (!knownPods.has(uid)) {
      orphans.push(...containers);
      continue;
    }
    const view = viewPod(containers);
    for (const instances of view.byName.values()) {
      // instances is newest first; keep the newest `keepPerContainer` (current + previous).
      for (const c of instances.slice(keepPerContainer)) if (!isRunning(c)) dead.push(c);
    }
    const sandboxes = containers.filter((c) => c.kind === 'sandbox' && c.id !== view.sandbox?.id);
    for (const s of sandboxes) if (!isRunning(s)) dead.push(s);
  }
  return { orphans, dead };
}
