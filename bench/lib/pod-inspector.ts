// Phase CPU profiles of the agent under test through the V8 inspector (Chrome DevTools Protocol's
// Profiler domain, as `node --cpu-prof` uses internally): the agent runs with --inspect on a loopback
// port chosen by the kernel; the bench connects, and starts/stops the sampling profiler around one
// phase (the 100-pod start, the idle window), so each phase gets its own .cpuprofile.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { summariseProfile, type ProfileSummary } from './pod-profile.js';

/** Node flag for the agent: inspector on loopback, port 0 (the kernel picks; the URL goes to stderr). */
export const INSPECT_FLAG = '--inspect=127.0.0.1:0';

export class PhaseProfiler {
  readonly #logPath: string;
  readonly #dir: string;
  readonly #roots: string[];
  #ws: WebSocket | undefined;
  #id = 0;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(o: { agentLogPath: string; dir: string; roots: string[] }) {
    this.#logPath = o.agentLogPath;
    this.#dir = o.dir;
    this.#roots = o.roots;
  }

  /** Connects to the agent's inspector (its URL read from the agent's log), bounded. */
  async connect(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let url: string | undefined;
    while (!url) {
      try {
        url = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/.exec(readFileSync(this.#logPath, 'utf8'))?.[1];
      } catch {
        // not written yet
      }
      if (url) break;
      if (Date.now() > deadline) throw new Error('the agent printed no inspector URL');
      await new Promise((r) => setTimeout(r, 200));
    }
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown; error?: { message: string } };
      const p = msg.id !== undefined ? this.#pending.get(msg.id) : undefined;
      if (!p) return;
      this.#pending.delete(msg.id!);
      if (msg.error) p.reject(new Error(msg.error.message));
      else p.resolve(msg.result);
    });
    ws.on('close', () => { for (const p of this.#pending.values()) p.reject(new Error('inspector closed')); this.#pending.clear(); });
    this.#ws = ws;
    await this.#call('Profiler.enable');
    await this.#call('Profiler.setSamplingInterval', { interval: 1000 });
  }

  #call(method: string, params?: Record<string, unknown>): Promise<unknown> {
    const ws = this.#ws;
    if (!ws) return Promise.reject(new Error('not connected'));
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.#pending.delete(id); reject(new Error(`${method}: no answer in 60 s`)); }, 60_000);
      this.#pending.set(id, { resolve: (v) => { clearTimeout(t); resolve(v); }, reject: (e) => { clearTimeout(t); reject(e); } });
      ws.send(JSON.stringify({ id, method, ...(params ? { params } : {}) }));
    });
  }

  async start(): Promise<void> {
    await this.#call('Profiler.start');
  }

  /** Stops the profiler; writes DIR/<name>.cpuprofile and returns its summary. */
  async stop(name: string): Promise<ProfileSummary & { file: string }> {
    const { profile } = (await this.#call('Profiler.stop')) as { profile: Parameters<typeof summariseProfile>[0] };
    const file = join(this.#dir, `${name}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    return { file, ...summariseProfile(profile, this.#roots) };
  }

  close(): void {
    this.#ws?.close();
    this.#ws = undefined;
  }
}
