// What the in-place resizer remembers per pod, as upstream's allocation manager and status manager keep
// it: the actuated resources of each container updated in place (upstream's actuated_pods_state
// checkpoint; Docker labels cannot change after create, so a `docker update` is recorded here and written
// to <podsDir>/<uid>/resize-actuated.json, read back after an agent restart), the accepted allocation
// (in memory: after a restart it is rebuilt from what runs, and a pending resize is judged again), and
// the pending / in-progress conditions with the generation each refers to.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResourceRequirements } from '../../kube/api.js';
import { resourcesSnapshot } from '../containers/resources.js';
import type { PendingResize } from './resize.js';

export const ACTUATED_FILE = 'resize-actuated.json';

export interface PodResizeState {
  /** Container id → the requests/limits it runs with after our last update. */
  actuated: Map<string, ResourceRequirements>;
  /** Container name → the accepted requests/limits (app containers and sidecars). */
  allocated?: Map<string, ResourceRequirements>;
  pending?: PendingResize & { generation?: number };
  /** An accepted resize being actuated (and the last actuation error). */
  inProgress?: { generation?: number; error?: string };
  /** `actuated` changed since it was last written. */
  dirty?: boolean;
}

export function actuatedPath(podsDir: string, uid: string): string {
  return join(podsDir, uid, ACTUATED_FILE);
}

/** Reads the record of a pod; an absent or unreadable file is an empty one. */
export async function loadActuated(podsDir: string, uid: string): Promise<Map<string, ResourceRequirements>> {
  const path = actuatedPath(podsDir, uid);
  if (!existsSync(path)) return new Map(); // a new pod: no failed read (an exception each) to find that out
  try {
    const raw = JSON.parse(await readFile(path, 'utf8')) as unknown;
    const out = new Map<string, ResourceRequirements>();
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
      for (const [id, r] of Object.entries(raw as Record<string, unknown>)) {
        if (r && typeof r === 'object' && !Array.isArray(r)) out.set(id, resourcesSnapshot(r as ResourceRequirements));
      }
    }
    return out;
  } catch {
    return new Map();
  }
}

/** Writes the record (atomically: temp file + rename); an empty record removes the file. */
export async function saveActuated(podsDir: string, uid: string, actuated: ReadonlyMap<string, ResourceRequirements>): Promise<void> {
  const path = actuatedPath(podsDir, uid);
  if (actuated.size === 0) {
    await rm(path, { force: true });
    return;
  }
  await mkdir(join(podsDir, uid), { recursive: true });
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(Object.fromEntries(actuated)));
  await rename(tmp, path);
}
