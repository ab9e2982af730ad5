// The pod-startup result: figures, ratios against targets, a printed table, and the JSON file
// (keeping a short history of earlier runs' figures).
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { dirname } from 'node:path';

export interface PodStartupReport {
  name: 'pod-startup';
  date: string;
  host: { cores: number; memory: string };
  /** What ratios.density_<N>_vs_raw_docker's raw-Docker run had the control plane do (--baseline-load). */
  baseline?: string;
  figures: Record<string, number>;
  ratios: Record<string, number>;
  targets: Record<string, number>;
  met: Record<string, boolean>;
  notes: string[];
  details: Record<string, unknown>;
  history?: { date: string; baseline?: string; figures: Record<string, number>; ratios: Record<string, number> }[];
}

/** Issue 17's targets (upper bounds); `density_<N>_vs_raw_docker` is keyed by the run's N. */
export const TARGETS = {
  single_pod_p99_s: 1.0,
  density_vs_raw_docker: 1.15,
  agent_peak_rss_100_mib: 150,
  agent_rss_100_idle_mib: 150,
  agent_peak_rss_250_mib: 200,
  agent_rss_250_idle_mib: 200,
  idle_cpu_100_pct_core: 1.0,
} as const;

/** The raw-Docker baseline of the headline ratio, by --baseline-load. */
export const BASELINES = {
  kubelet: 'raw Docker while the control plane does an agent run\'s work: decoy pods scheduled, a decoy kubelet replaying the kubelet\'s writes for them',
  decoy: 'raw Docker while the control plane schedules as many decoy pods (its own share of an agent run)',
  none: 'raw Docker with the control plane idle (at nice 19)',
} as const;

export function buildReport(figures: Record<string, number>, ratios: Record<string, number>, densityN: number, notes: string[], details: Record<string, unknown>, baseline?: string): PodStartupReport {
  const ratioKey = `density_${densityN}_vs_raw_docker`;
  const targets: Record<string, number> = {};
  const met: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(TARGETS)) {
    const key = k === 'density_vs_raw_docker' ? ratioKey : k;
    const value = key === ratioKey ? ratios[key] : figures[key];
    if (value === undefined) continue; // not measured in this run (e.g. --quick skips the 250-pod run)
    targets[key] = v;
    met[key] = Number.isFinite(value) && value <= v;
  }
  return {
    name: 'pod-startup',
    date: new Date().toISOString(),
    host: { cores: availableParallelism(), memory: `${Math.round(totalmem() / 1024 ** 3)} GiB` },
    ...(baseline ? { baseline } : {}),
    figures, ratios, targets, met, notes, details,
  };
}

export function printTable(r: PodStartupReport): void {
  const rows: [string, string, string, string][] = [['figure', 'value', 'target', 'met']];
  const tgt = r.targets as Record<string, number>;
  for (const [k, v] of Object.entries(r.figures)) {
    rows.push([k, String(v), tgt[k] !== undefined ? `≤ ${tgt[k]}` : '', r.met[k] === undefined ? '' : r.met[k] ? 'yes' : 'NO']);
  }
  for (const [k, v] of Object.entries(r.ratios)) rows.push([k, String(v), tgt[k] !== undefined ? `≤ ${tgt[k]}` : '', r.met[k] === undefined ? '' : r.met[k] ? 'yes' : 'NO']);
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(w[i]!)).join('  ');
  console.log(`\npod-startup (${r.date}, ${r.host.cores} cores, ${r.host.memory})`);
  console.log(line(rows[0]!));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const row of rows.slice(1)) console.log(line(row));
  if (r.notes.length) console.log(`\nnotes:\n${r.notes.map((n) => `- ${n}`).join('\n')}`);
}

export function printStages(title: string, stages: Record<string, unknown>): void {
  console.log(`\n${title}`);
  for (const [k, v] of Object.entries(stages)) console.log(`  ${k.padEnd(34)} ${JSON.stringify(v)}`);
}

/** Writes the report, carrying the previous file's figures into history (at most 5 entries). */
export async function writeReport(path: string, r: PodStartupReport): Promise<void> {
  let history: NonNullable<PodStartupReport['history']>;
  try {
    const prev = JSON.parse(await readFile(path, 'utf8')) as PodStartupReport;
    history = [{ date: prev.date, ...(prev.baseline ? { baseline: prev.baseline } : {}), figures: prev.figures, ratios: prev.ratios }, ...(prev.history ?? [])].slice(0, 5);
  } catch {
    history = [];
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify({ ...r, history }, null, 2)}\n`);
}
