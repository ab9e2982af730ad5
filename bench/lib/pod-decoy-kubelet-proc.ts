// The decoy kubelet (pod-decoy-kubelet.ts) in a child process of its own: its watch, TLS and JSON work
// stay off the bench's event loop, which times the raw-Docker calls, and its CPU is measured apart. The
// child runs in a session of its own (so the bench can lower its autogroup's priority, as the control
// plane's); the bench tells it over IPC when each raw-Docker pair begins and starts.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { createKubeClient } from '../../kube/client.js';
import { loadKubeconfig } from '../../kube/kubeconfig.js';
import { silentLogger } from '../../lib/log.js';
import { DecoyKubelet, replayStats, type PairIds, type ReplayStats } from './pod-decoy-kubelet.js';

type ToChild =
  | { op: 'beginRun' }
  | { op: 'begin'; i: number }
  | { op: 'started'; i: number; ids: PairIds }
  | { op: 'finish'; timeoutMs: number }
  | { op: 'stop' };
type FromChild = { op: 'ready' } | { op: 'finished'; stats: ReplayStats } | { op: 'error'; message: string };

const HERE = fileURLToPath(import.meta.url);
const REPO = join(HERE, '..', '..', '..');

/** The bench's handle on the decoy kubelet child (same calls as DecoyKubelet). */
export class DecoyKubeletProcess {
  readonly #child: ChildProcess;
  #waiting: ((m: FromChild) => void)[] = [];
  #exited = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (m: FromChild) => this.#waiting.shift()?.(m));
    child.on('exit', (code, signal) => {
      this.#exited = true;
      for (const w of this.#waiting.splice(0)) w({ op: 'error', message: `decoy kubelet exited (${code ?? signal})` });
    });
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** Starts the child and waits until its watch has synced. */
  static async start(kubeconfigPath: string, node: string, imageRef: string): Promise<DecoyKubeletProcess> {
    const child = fork(HERE, [kubeconfigPath, node, imageRef], { cwd: REPO, execArgv: ['--import', 'tsx'], detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const p = new DecoyKubeletProcess(child);
    const m = await p.#reply();
    if (m.op !== 'ready') {
      await p.stop();
      throw new Error(`decoy kubelet did not start: ${m.op === 'error' ? m.message : m.op}`);
    }
    return p;
  }

  #send(m: ToChild): void {
    if (!this.#exited) this.#child.send(m);
  }

  #reply(): Promise<FromChild> {
    if (this.#exited) return Promise.resolve({ op: 'error', message: 'decoy kubelet exited' });
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  beginRun(): void {
    this.#send({ op: 'beginRun' });
  }

  pairBegins(i: number): void {
    this.#send({ op: 'begin', i });
  }

  pairStarted(i: number, ids: PairIds): void {
    this.#send({ op: 'started', i, ids });
  }

  async finish(timeoutMs: number): Promise<ReplayStats> {
    const reply = this.#reply();
    this.#send({ op: 'finish', timeoutMs });
    const m = await reply;
    if (m.op === 'finished') return m.stats;
    return replayStats(m.op === 'error' ? m.message : m.op);
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#send({ op: 'stop' });
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

async function childMain(): Promise<void> {
  const [kubeconfigPath, node, imageRef] = process.argv.slice(2) as [string, string, string];
  const send = (m: FromChild) => process.send?.(m);
  const k = new DecoyKubelet(createKubeClient(loadKubeconfig(kubeconfigPath), { log: silentLogger() }), node, imageRef);
  try {
    await k.start();
  } catch (err) {
    send({ op: 'error', message: err instanceof Error ? err.message : String(err) });
    await k.stop().catch(() => undefined);
    process.exit(1);
  }
  process.on('disconnect', () => void k.stop().finally(() => process.exit(0)));
  process.on('message', (m: ToChild) => {
    if (m.op === 'beginRun') k.beginRun();
    else if (m.op === 'begin') k.pairBegins(m.i);
    else if (m.op === 'started') k.pairStarted(m.i, m.ids);
    else if (m.op === 'finish') void k.finish(m.timeoutMs).then((stats) => send({ op: 'finished', stats }));
    else void k.stop().finally(() => process.exit(0));
  });
  send({ op: 'ready' });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await childMain();
