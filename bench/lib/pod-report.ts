// The pod-startup result: figures, ratios against targets, a printed table, and the JSON file
// (keeping a short history of earlier runs' figures).
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { dirname } from 'node:path';

export const TARGETS = { single_pod_p99_s: 1.0, density_vs_raw_docker: 1.15, agent_peak_rss_mib: 150 } as const;

export interface PodStartupReport {
  name: 'pod-startup';
  date: string;
  host: { cores: number; memory: string };
  figures: Record<string, number>;
  ratios: Record<string, number>;
  targets: Record<string, number>;
  met: Record<string, boolean>;
  notes: string[];
  details: Record<string, unknown>;
  history?: { date: string; figures: Record<string, number>; ratios: Record<string, number> }[];
}

export function buildReport(figures: Record<string, number>, densityN: number, notes: string[], details: Record<string, unknown>): PodStartupReport {
  const dKey = `density_${densityN}_s`;
  const rKey = `raw_docker_${densityN}_s`;
  const ratioKey = `density_${densityN}_vs_raw_docker`;
  const ratio = figures[dKey]! / figures[rKey]!;
  const median = figures[`raw_docker_${densityN}_median_trial_s`];
  const ratios: Record<string, number> = { [ratioKey]: Math.round(ratio * 1000) / 1000 };
  if (median !== undefined) ratios[`${ratioKey}_median_trial`] = Math.round((figures[dKey]! / median) * 1000) / 1000;
  const targets = { single_pod_p99_s: TARGETS.single_pod_p99_s, [ratioKey]: TARGETS.density_vs_raw_docker, agent_peak_rss_mib: TARGETS.agent_peak_rss_mib };
  const met = {
    single_pod_p99_s: figures.single_pod_p99_s! <= TARGETS.single_pod_p99_s,
    [ratioKey]: ratio <= TARGETS.density_vs_raw_docker,
    agent_peak_rss_mib: figures.agent_peak_rss_mib! <= TARGETS.agent_peak_rss_mib,
  };
  return {
    name: 'pod-startup',
    date: new Date().toISOString(),
    host: { cores: availableParallelism(), memory: `${Math.round(totalmem() / 1024 ** 3)} GiB` },
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
    history = [{ date: prev.date, figures: prev.figures, ratios: prev.ratios }, ...(prev.history ?? [])].slice(0, 5);
  } catch {
    history = [];
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify({ ...r, history }, null, 2)}\n`);
}
