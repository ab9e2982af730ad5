// `npm run bench -- conformance` / `bash test/conformance/run.sh`: the upstream [NodeConformance] e2e specs
// against a dockerlet node (test/conformance/run.ts), the peer's own test suite. A full run writes
// bench/results/conformance.json (figures.applicable/passed/failed/skipped, ratios.pass_rate = passed /
// applicable, every spec's outcome with its first error line, failures grouped by cause) and
// bench/results/conformance.junit.xml. `--subset ci` runs the CI subset (test/conformance/ci-subset.txt),
// writes nothing under bench/results and exits non-zero when a spec failed or none ran.
// Flags: --subset full|ci, --procs N (ginkgo processes, default 3), --timeout MIN (default 50 full, 12 ci),
// --with-proxy (node runs `dockerlet run`), --focus REGEXP, --work DIR.
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatTable } from '../test/conformance/report.js';
import { resultFromWorkDir, runConformance } from '../test/conformance/run.js';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
const log = (m: string) => console.error(`[conformance ${new Date().toISOString().slice(11, 19)}] ${m}`);

async function cacheDir(): Promise<string> {
  if (process.env.DOCKERLET_CONFORMANCE_DIR) return process.env.DOCKERLET_CONFORMANCE_DIR;
  const mod = await readFile(join(REPO, 'test/conformance/e2e/go.mod'), 'utf8');
  const v = /^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\S+)/m.exec(mod)?.[1];
  if (!v) throw new Error('no k8s.io/kubernetes version in test/conformance/e2e/go.mod');
  return join(process.env.DOCKERLET_CACHE ?? '/var/cache/dockerlet', 'conformance', v);
}

export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      subset: { type: 'string', default: 'full' },
      procs: { type: 'string', default: '3' },
      timeout: { type: 'string' },
      'with-proxy': { type: 'boolean', default: false },
      focus: { type: 'string' },
      work: { type: 'string' },
      'from-report': { type: 'string' },
    },
  });
  const load0 = loadavg()[0]!;
  const r = values['from-report'] ? await resultFromWorkDir(values['from-report']) : await run(values);
  const { subset, focus, procs, registry } = r.meta;
  console.log(formatTable(r.table));
  log(`ginkgo exit ${r.ginkgoExit}; ${Math.round(r.seconds)} s (bed up in ${Math.round(r.bedSeconds)} s); reports ${r.jsonReport}, ${r.junitReport}; logs ${r.ginkgoLog}, ${r.nodeLog}`);
  const result = {
    name: 'conformance',
    date: new Date().toISOString(),
    host: { cores: availableParallelism(), memory: `${Math.round(totalmem() / 1024 ** 3)} GiB`, load1_at_start: Math.round(load0 * 100) / 100 },
    subset,
    figures: { ...r.table.figures, node_crashes: r.nodeCrashes.length, run_seconds: Math.round(r.seconds), bed_seconds: Math.round(r.bedSeconds) },
    ratios: r.table.ratios,
    failure_groups: Object.fromEntries(Object.entries(r.table.failure_groups).map(([k, v]) => [k, v.length])),
    notes: [
      'e2e.test = upstream test/e2e/common (node, storage, network) at the control plane\'s pinned version, built by scripts/build-conformance.sh; images are local stand-ins tagged as the e2e manifest names them (test/conformance/images.sh)',
      `selection: ginkgo label filter "NodeConformance && !Flaky", minus test/conformance/skip.txt${focus ? `, focus ${focus}` : ''}; ${procs} ginkgo processes; pass_rate = passed / applicable (applicable = passed + failed + not run; specs skipped at run time by the framework itself are listed with its reason)`,
      registry
        ? 'images pulled by the node from a real registry on loopback (test/conformance/registry.sh: 127.0.0.1:5037 open, 127.0.0.1:5038 htpasswd for the authenticated-registry specs), named through KUBE_TEST_REPO_LIST'
        : 'images used from their local registry.k8s.io/... tags (no registry; DOCKERLET_CONFORMANCE_REGISTRY=0)',
      'bed: the pinned control plane (test/cluster/harness.ts) + one dockerlet node on this host; pods talk on this host\'s Docker bridge only; a node that exits is restarted 5 s later (as systemd/dockerlet.service does) and counted in figures.node_crashes',
    ],
    ginkgo_exit: r.ginkgoExit,
    suite_failures: r.table.suite_failures,
    node_crashes: r.nodeCrashes,
    specs: r.table.specs,
  };
  const workDir = dirname(r.jsonReport);
  if (subset === 'full' && !focus) {
    await mkdir(join(REPO, 'bench/results'), { recursive: true });
    await writeFile(join(REPO, 'bench/results/conformance.json'), `${JSON.stringify(result, null, 2)}\n`);
    await copyFile(r.junitReport, join(REPO, 'bench/results/conformance.junit.xml')).catch((err: unknown) => log(`no JUnit report: ${String(err)}`));
    log('wrote bench/results/conformance.json and bench/results/conformance.junit.xml');
  } else {
    await writeFile(join(workDir, 'conformance.json'), `${JSON.stringify(result, null, 2)}\n`);
    log(`wrote ${join(workDir, 'conformance.json')}`);
  }
  // The closing line CI reads, then the verdict: any failure (or nothing run) fails a subset run.
  const f = r.table.figures;
  console.log(`conformance: ${f.passed} passed, ${f.failed} failed, ${f.skipped} skipped`);
  if (subset === 'ci' && (f.failed > 0 || f.passed === 0)) process.exitCode = 1;
}

interface Flags {
  subset: string;
  procs: string;
  timeout?: string | undefined;
  'with-proxy': boolean;
  focus?: string | undefined;
  work?: string | undefined;
}

async function run(values: Flags): ReturnType<typeof runConformance> {
  const subset = values.subset;
  if (subset !== 'full' && subset !== 'ci') throw new Error(`--subset: expected full or ci, got ${JSON.stringify(subset)}`);
  const procs = Number(values.procs);
  if (!Number.isInteger(procs) || procs < 1 || procs > 8) throw new Error(`--procs: expected 1..8, got ${JSON.stringify(values.procs)}`);
  const timeoutMinutes = Number(values.timeout ?? (subset === 'ci' ? 12 : 50));
  if (!(timeoutMinutes > 0 && timeoutMinutes <= 180)) throw new Error(`--timeout: expected minutes in (0, 180], got ${JSON.stringify(values.timeout)}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const workDir = values.work ?? join('/tmp', `dockerlet-conformance-${subset}-${stamp}`);
  const abort = new AbortController();
  // process.on, not once: the harness's process set re-raises a signal nobody else listens to (killing us
  // before the bed is torn down and the reports are read). A second signal exits at once.
  const onSignal = () => {
    if (abort.signal.aborted) process.exit(130);
    log('signal: stopping the run (the bed is torn down; again to exit at once)');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return runConformance({
    cacheDir: await cacheDir(), workDir, subset, procs, timeoutMinutes, withProxy: values['with-proxy'],
    ...(values.focus ? { focus: values.focus } : {}), signal: abort.signal, log,
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}
