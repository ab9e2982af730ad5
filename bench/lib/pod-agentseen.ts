// When the agent under test first saw each pod: the kubelet's "SyncLoop ADD" log line (upstream
// kubelet.go logs it at V(2) when a pod source adds a pod) read from the agent's JSON log (pino `time`,
// ms), or, while the agent does not log it, the creation of the pod's directory <root>/pods/<uid>
// (the first thing a pod sync does on disk), caught with an inotify watch on <root>/pods.
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export type SeenSource = 'SyncLoop ADD log' | 'pod directory created';

export class AgentSeen {
  readonly #podsDir: string;
  readonly #logPath: string;
  readonly #dirSeen = new Map<string, number>();
  #watcher: FSWatcher | undefined;

  constructor(rootDir: string, logPath: string) {
    this.#podsDir = join(rootDir, 'pods');
    this.#logPath = logPath;
  }

  /** Creates <root>/pods (as the agent would) and watches it; call before the agent starts. */
  async start(): Promise<void> {
    await mkdir(this.#podsDir, { recursive: true, mode: 0o750 });
    this.#watcher = watch(this.#podsDir, (_ev, name) => {
      if (name && !this.#dirSeen.has(String(name))) this.#dirSeen.set(String(name), Date.now());
    });
    this.#watcher.on('error', () => undefined);
  }

  stop(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  /** Pod UID → first-seen epoch ms, from the log when it has the line for any pod, else from the directories. */
  async times(): Promise<{ source: SeenSource; seen: Map<string, number> }> {
    const fromLog = await parseSyncLoopAdd(this.#logPath);
    if (fromLog.size > 0) return { source: 'SyncLoop ADD log', seen: fromLog };
    return { source: 'pod directory created', seen: new Map(this.#dirSeen) };
  }
}

/** UID → time of the first "SyncLoop ADD" line naming it (fields podUid or uid). */
export async function parseSyncLoopAdd(path: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.includes('SyncLoop ADD')) continue;
    try {
      const rec = JSON.parse(line) as { time?: number | string; msg?: string; podUid?: string; uid?: string };
      const uid = rec.podUid ?? rec.uid;
      // pino's time: epoch ms by default, an ISO string with stdTimeFunctions.isoTime (lib/log.ts).
      const t = typeof rec.time === 'number' ? rec.time : Date.parse(rec.time ?? '');
      if (rec.msg === 'SyncLoop ADD' && uid && Number.isFinite(t) && !out.has(uid)) out.set(uid, t);
    } catch {
      // not a JSON line
    }
  }
  return out;
}
