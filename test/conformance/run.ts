// Runs the upstream [NodeConformance] e2e specs (test/e2e/common: node, storage and the network "Granular
// Checks: Pods") against a dockerlet node, as upstream CI runs e2e.test: the ginkgo CLI drives the
// prebuilt e2e.test with a label filter, a skip list and the kubeconfig of a real cluster (our bed: the
// pinned control plane + one dockerlet node on this host). Pods only talk to each other and to the node on
// this host's Docker bridge. The run is bounded (ginkgo --timeout, then a hard kill) and always tears the
// bed down. Returns the table (report.ts) and where the logs and reports are.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBed, type Bed } from './bed.js';
import { buildTable, literalAlternation, parseSkipList, parseTriage, type ConformanceTable, type GinkgoReport } from './report.js';

const here = resolve(fileURLToPath(new URL('.', import.meta.url)));
export const LABEL = 'NodeConformance';
/** Labels never run: known-flaky specs upstream itself keeps out of its conformance jobs. */
export const EXCLUDE_LABELS = ['Flaky'];

export interface RunOptions {
  /** Cache dir of scripts/build-conformance.sh (e2e.test, ginkgo). */
  cacheDir: string;
  /** Work dir for the bed, logs and ginkgo's reports (kept). */
  workDir: string;
  subset: 'full' | 'ci';
  procs: number;
  /** ginkgo --timeout for the whole suite. */
  timeoutMinutes: number;
  withProxy: boolean;
  /** Extra --focus (a regexp), e.g. to rerun one spec. */
  focus?: string;
  signal: AbortSignal;
  log: (msg: string) => void;
}

export interface RunResult {
  table: ConformanceTable;
  ginkgoExit: number;
  seconds: number;
  bedSeconds: number;
  jsonReport: string;
  junitReport: string;
  ginkgoLog: string;
  nodeLog: string;
  /** Unexpected exits of the dockerlet node during the run (it was restarted each time). */
  nodeCrashes: { at: string; code: number | null; signal: string | null }[];
  command: string[];
}

export async function listFile(name: string): Promise<string[]> {
  const text = await readFile(join(here, name), 'utf8');
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

export async function runConformance(o: RunOptions): Promise<RunResult & { meta: RunMeta }> {
  const e2e = join(o.cacheDir, 'e2e.test');
  const ginkgo = join(o.cacheDir, 'ginkgo');
  await Promise.all([access(e2e), access(ginkgo)]).catch(() => {
    throw new Error(`e2e.test or ginkgo missing in ${o.cacheDir}: run bash scripts/build-conformance.sh`);
  });
  const skips = parseSkipList(await readFile(join(here, 'skip.txt'), 'utf8'));
  const only = o.subset === 'ci' ? await listFile('ci-subset.txt') : undefined;
  await mkdir(o.workDir, { recursive: true });
  const t0 = Date.now();
  const nodeName = `conformance-${hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-')}-${process.pid}`;
  const bed: Bed = await startBed({ dir: join(o.workDir, 'bed'), nodeName, withProxy: o.withProxy, signal: o.signal, log: o.log });
  const bedSeconds = (Date.now() - t0) / 1000;
  const jsonReport = join(o.workDir, 'ginkgo-report.json');
  const junitReport = join(o.workDir, 'junit.xml');
  const ginkgoLog = join(o.workDir, 'ginkgo.log');
  const labelFilter = [LABEL, ...EXCLUDE_LABELS.map((l) => `!${l}`)].join(' && ');
  const focus = [only ? literalAlternation(only) : undefined, o.focus].filter((x): x is string => Boolean(x));
  const command = [
    ginkgo, `--procs=${o.procs}`, `--timeout=${o.timeoutMinutes}m`, '--no-color', '--poll-progress-after=120s',
    `--label-filter=${labelFilter}`, `--skip=${literalAlternation(skips.map((s) => s.text))}`,
    ...focus.map((f) => `--focus=${f}`),
    `--json-report=${jsonReport}`, `--junit-report=${junitReport}`,
    e2e, '--',
    `--kubeconfig=${bed.adminKubeconfig}`, '--provider=skeleton', '--dump-logs-on-failure=false', '--disable-log-dump=true',
    '--allowed-not-ready-nodes=0', '--minStartupPods=0', '--node-os-distro=debian', `--e2e-output-dir=${join(o.workDir, 'e2e-output')}`,
  ];
  let ginkgoExit: number;
  try {
    o.log(`e2e: ${o.subset} run, ${o.procs} procs, timeout ${o.timeoutMinutes} min; log ${ginkgoLog}`);
    ginkgoExit = await runBounded(command, ginkgoLog, (o.timeoutMinutes + 3) * 60_000, o.signal, o.log);
    if (bed.nodeCrashes().length > 0) o.log(`dockerlet crashed ${bed.nodeCrashes().length} times during the run; see ${bed.nodeLog}`);
  } finally {
    await bed.stop().catch((err: unknown) => o.log(`bed stop: ${String(err)}`));
  }
  const meta: RunMeta = {
    subset: o.subset, focus: o.focus ?? null, procs: o.procs, ginkgoExit, seconds: (Date.now() - t0) / 1000, bedSeconds,
    nodeCrashes: bed.nodeCrashes(), registry: Boolean(process.env.KUBE_TEST_REPO_LIST), nodeLog: bed.nodeLog, command,
  };
  await writeFile(join(o.workDir, 'run-meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return resultFromWorkDir(o.workDir);
}

/** What a run leaves in its work dir besides ginkgo's reports. */
export interface RunMeta {
  subset: 'full' | 'ci';
  focus: string | null;
  procs: number;
  ginkgoExit: number;
  seconds: number;
  bedSeconds: number;
  nodeCrashes: { at: string; code: number | null; signal: string | null }[];
  registry: boolean;
  nodeLog: string;
  command: string[];
}

/** The table of a finished run, from its work dir (also for re-reading an earlier run with the current skip list). */
export async function resultFromWorkDir(workDir: string): Promise<RunResult & { meta: RunMeta }> {
  const meta = JSON.parse(await readFile(join(workDir, 'run-meta.json'), 'utf8')) as RunMeta;
  const jsonReport = join(workDir, 'ginkgo-report.json');
  const skips = parseSkipList(await readFile(join(here, 'skip.txt'), 'utf8'));
  const only = meta.subset === 'ci' ? await listFile('ci-subset.txt') : undefined;
  const reports = JSON.parse(await readFile(jsonReport, 'utf8').catch(() => '[]')) as GinkgoReport[];
  const triage = parseTriage(await readFile(join(here, 'triage.txt'), 'utf8'));
  const table = buildTable(reports, {
    label: LABEL, excludeLabels: EXCLUDE_LABELS, skips, triage, ...(only ? { only } : {}), allSelected: meta.subset === 'full' && !meta.focus,
  });
  return {
    table, ginkgoExit: meta.ginkgoExit, seconds: meta.seconds, bedSeconds: meta.bedSeconds, jsonReport,
    junitReport: join(workDir, 'junit.xml'), ginkgoLog: join(workDir, 'ginkgo.log'), nodeLog: meta.nodeLog,
    nodeCrashes: meta.nodeCrashes, command: meta.command, meta,
  };
}

/** Runs the command with its output into a log file; SIGINT at the bound (ginkgo writes its reports), SIGKILL 60 s later. */
function runBounded(cmd: string[], logPath: string, boundMs: number, signal: AbortSignal, log: (m: string) => void): Promise<number> {
  return new Promise((resolveExit, reject) => {
    const out = createWriteStream(logPath);
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    let passed = 0;
    let failed = 0;
    child.stdout.on('data', (b: Buffer) => {
      const s = b.toString();
      passed += (s.match(/•/g) ?? []).length;
      failed += (s.match(/\[FAIL\]|\[TIMEDOUT\]|\[PANICKED\]/g) ?? []).length;
    });
    const progress = setInterval(() => log(`e2e running: ~${passed} specs done, ~${failed} failure markers so far`), 60_000);
    const interrupt = () => {
      if (child.exitCode !== null) return;
      try { process.kill(-child.pid!, 'SIGINT'); } catch { /* gone */ }
      setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 60_000).unref();
    };
    const bound = setTimeout(() => { log('e2e: bound reached, interrupting ginkgo'); interrupt(); }, boundMs);
    signal.addEventListener('abort', interrupt, { once: true });
    process.once('exit', () => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } });
    child.once('error', reject);
    child.once('close', (code, sig) => {
      clearTimeout(bound);
      clearInterval(progress);
      signal.removeEventListener('abort', interrupt);
      out.end();
      resolveExit(code ?? (sig ? 128 : 1));
    });
  });
}
