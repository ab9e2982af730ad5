// Turns ginkgo's JSON report of an e2e.test run (github.com/onsi/ginkgo/v2/types.Report, as written by
// `ginkgo --json-report`) into the conformance table: which specs were in scope (the [NodeConformance]
// label, as `--ginkgo.label-filter` selects them), which the skip list removed, and for each spec that ran
// its outcome and first error line, grouped by cause. Pure functions; the runner does the I/O.

export interface GinkgoLocation {
  FileName: string;
  LineNumber: number;
}

export interface GinkgoSpecReport {
  ContainerHierarchyTexts: string[] | null;
  ContainerHierarchyLabels?: (string[] | null)[] | null;
  LeafNodeType: string;
  LeafNodeText: string;
  LeafNodeLabels?: string[] | null;
  LeafNodeLocation: GinkgoLocation;
  State: string;
  RunTime: number; // nanoseconds
  Failure?: { Message?: string; Location?: GinkgoLocation; FailureNodeType?: string };
}

export interface GinkgoReport {
  SuiteDescription: string;
  SuiteSucceeded: boolean;
  RunTime: number;
  SpecReports: GinkgoSpecReport[] | null;
}

export interface SkipEntry {
  text: string;
  reason: string;
}

export type Outcome = 'passed' | 'failed' | 'skipped' | 'not run';
export type Cause = 'missing endpoint' | 'missing feature' | 'wrong value' | 'network' | 'timing' | 'other';

export interface SpecOutcome {
  name: string;
  file: string;
  outcome: Outcome;
  /** For failures: the ginkgo state (failed, timedout, panicked, interrupted, aborted). */
  state: string;
  seconds: number;
  first_error?: string;
  cause?: Cause;
  /** Why it fails, from test/conformance/triage.txt (read by a person from the failure), when listed there. */
  triage?: string;
  skip_reason?: string;
}

export interface ConformanceTable {
  figures: { selected: number; applicable: number; passed: number; failed: number; not_run: number; skipped: number; skipped_by_list: number; skipped_at_runtime: number };
  ratios: { pass_rate: number };
  failure_groups: Record<Cause, string[]>;
  /** Suite-level nodes (BeforeSuite, AfterSuite, reporters) that did not pass, with their first error line. */
  suite_failures: string[];
  specs: SpecOutcome[];
}

/** Parses the skip list: `spec text (a substring of the full name) :: reason`, # comments, blank lines. */
export function parseSkipList(text: string): SkipEntry[] {
  const out: SkipEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = line.lastIndexOf(' :: ');
    const spec = at > 0 ? line.slice(0, at).trim() : '';
    const reason = at > 0 ? line.slice(at + 4).trim() : '';
    if (spec === '' || reason === '') throw new Error(`skip list line ${i + 1}: expected "<spec text> :: <reason>", got ${JSON.stringify(line)}`);
    out.push({ text: spec, reason });
  });
  return out;
}

export interface TriageEntry {
  text: string;
  cause: Cause;
  note: string;
}

const CAUSES: Cause[] = ['missing endpoint', 'missing feature', 'wrong value', 'network', 'timing', 'other'];

/** Parses the triage list: `spec text :: cause :: note` (cause one of CAUSES), # comments, blank lines. */
export function parseTriage(text: string): TriageEntry[] {
  const out: TriageEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [spec, cause, note] = line.split(' :: ').map((x) => x.trim());
    if (!spec || !note || !CAUSES.includes(cause as Cause)) throw new Error(`triage line ${i + 1}: expected "<spec text> :: <${CAUSES.join('|')}> :: <note>"`);
    out.push({ text: spec, cause: cause as Cause, note });
  });
  return out;
}

/** A regexp alternation that matches any of the given literal texts (for --skip / --focus). */
export function literalAlternation(texts: string[]): string {
  return texts.map((t) => t.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')).join('|');
}

export function fullName(s: GinkgoSpecReport): string {
  return [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].join(' ');
}

export function labelsOf(s: GinkgoSpecReport): string[] {
  return [...(s.ContainerHierarchyLabels ?? []).flatMap((l) => l ?? []), ...(s.LeafNodeLabels ?? [])];
}

/** `.../k8s.io/kubernetes@v1.34.4/test/e2e/common/node/pods.go` → `common/node/pods.go`. */
export function shortFile(path: string): string {
  const i = path.indexOf('/test/e2e/');
  return i >= 0 ? path.slice(i + '/test/e2e/'.length) : path;
}

/** The first meaningful line of a failure message (ginkgo/gomega messages often open with a blank line). */
export function firstErrorLine(message: string | undefined): string {
  const lines = (message ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const line = lines[0] ?? '(no message)';
  // gomega's "Expected\n  <type>: value\nto equal\n  <type>: value" reads better on one line
  if (/^Expected$/.test(line) && lines.length >= 3) return lines.slice(0, 4).join(' ').slice(0, 300);
  return line.slice(0, 300);
}

const ENDPOINT = /failed to get logs|an error on the server \("unknown"\)|pods\/log|pods\/exec|pods\/portforward|pods\/attach|containerLogs|\/exec\/|error dialing backend|unable to upgrade connection|upgrade request|bad handshake|could not find the requested resource|proxy error|dial tcp [^ ]+:102\d\d|the server has asked for the client to provide credentials|Unauthorized|Forbidden \(user=kube-apiserver/i;
const TIMING = /timed out|timeout|deadline exceeded|context canceled|Timed out after/i;
const FEATURE = /not supported|not implemented|unsupported|unknown field|no such file or directory|executable file not found|applet not found/i;
const VALUE = /Expected|to equal|to contain|to match|to be|expected .* (got|but|found)|unexpected (reason|state|phase|value)|succeeded unexpectedly|failed to match|wrong|should be kubelet managed/i;
const NETWORK = /connections failed|Error dialing|failed to find expected endpoints|no route to host|connection refused|connection reset/i;

/**
 * Groups a failure by its probable cause; the order matters (an endpoint error wrapped in a timeout is an
 * endpoint error). A spec cut short (ginkgo state interrupted or timedout) is a timing failure.
 */
export function classify(message: string | undefined, state = 'failed'): Cause {
  const m = message ?? '';
  if (state === 'interrupted' || state === 'timedout') return 'timing';
  if (ENDPOINT.test(m)) return 'missing endpoint';
  if (FEATURE.test(m)) return 'missing feature';
  // "Timed out after 300s. expected pod to be failed with reason X" is a wrong (missing) reason, not slowness
  if (VALUE.test(m)) return 'wrong value';
  if (NETWORK.test(m)) return 'network';
  if (TIMING.test(m)) return 'timing';
  return 'other';
}

/** Whether the spec was in scope: its labels match `want` and carry none of `exclude`. */
export function inScope(s: GinkgoSpecReport, want: string, exclude: string[]): boolean {
  if (s.LeafNodeType !== 'It') return false;
  const labels = labelsOf(s);
  return labels.includes(want) && !exclude.some((e) => labels.some((l) => l === e || l.startsWith(`${e}:`)));
}

export interface TableOptions {
  /** Only specs whose full name contains one of these (the CI subset); default: every spec in scope. */
  only?: string[];
  label: string;
  excludeLabels: string[];
  skips: SkipEntry[];
  /** Causes of known failures, set by hand; the message heuristics (classify) group the rest. */
  triage?: TriageEntry[];
  /**
   * Whether every spec in scope was meant to run (a full run without a focus): then one the report shows as
   * skipped without a message never ran (the suite was interrupted or timed out) and counts as applicable.
   */
  allSelected?: boolean;
}

export function buildTable(reports: GinkgoReport[], o: TableOptions): ConformanceTable {
  const specs: SpecOutcome[] = [];
  const suiteFailures: string[] = [];
  for (const r of reports) {
    for (const s of r.SpecReports ?? []) {
      if (s.LeafNodeType !== 'It' && s.State !== 'passed') suiteFailures.push(`${s.LeafNodeType} ${s.State}: ${firstErrorLine(s.Failure?.Message)}`);
      if (!inScope(s, o.label, o.excludeLabels)) continue;
      const name = fullName(s);
      if (o.only && !o.only.some((t) => name.includes(t))) continue;
      const base = { name, file: shortFile(s.LeafNodeLocation.FileName), state: s.State, seconds: Math.round(s.RunTime / 1e7) / 100 };
      const listed = o.skips.find((k) => name.includes(k.text));
      if (listed) specs.push({ ...base, outcome: 'skipped', skip_reason: `skip list: ${listed.reason}` });
      else if (s.State === 'passed') specs.push({ ...base, outcome: 'passed' });
      // A spec the filters (label, focus) left out is reported as skipped without a message: not selected.
      else if (s.State === 'skipped' && !s.Failure?.Message) {
        if (o.allSelected) specs.push({ ...base, outcome: 'not run', skip_reason: 'never started: the suite was interrupted or timed out' });
        continue;
      }
      else if (s.State === 'skipped' || s.State === 'pending') {
        specs.push({ ...base, outcome: 'skipped', skip_reason: `at run time: ${firstErrorLine(s.Failure?.Message)}` });
      } else {
        const known = o.triage?.find((k) => name.includes(k.text));
        const cause = known ? known.cause : classify(s.Failure?.Message, s.State);
        specs.push({ ...base, outcome: 'failed', first_error: firstErrorLine(s.Failure?.Message), cause, ...(known ? { triage: known.note } : {}) });
      }
    }
  }
  specs.sort((a, b) => a.file.localeCompare(b.file) || a.name.localeCompare(b.name));
  const count = (f: (s: SpecOutcome) => boolean) => specs.filter(f).length;
  const passed = count((s) => s.outcome === 'passed');
  const failed = count((s) => s.outcome === 'failed');
  const notRun = count((s) => s.outcome === 'not run');
  const byList = count((s) => s.skip_reason?.startsWith('skip list') === true);
  const atRuntime = count((s) => s.skip_reason?.startsWith('at run time') === true);
  const groups: Record<Cause, string[]> = { 'missing endpoint': [], 'missing feature': [], 'wrong value': [], network: [], timing: [], other: [] };
  for (const s of specs) if (s.outcome === 'failed' && s.cause) groups[s.cause].push(s.name);
  const applicable = passed + failed + notRun;
  return {
    figures: { selected: specs.length, applicable, passed, failed, not_run: notRun, skipped: byList + atRuntime, skipped_by_list: byList, skipped_at_runtime: atRuntime },
    ratios: { pass_rate: applicable === 0 ? 0 : Math.round((passed / applicable) * 1000) / 1000 },
    failure_groups: groups,
    suite_failures: suiteFailures,
    specs,
  };
}

/** A plain-text table for the console: counts, then failures grouped by cause with their first error line. */
export function formatTable(t: ConformanceTable): string {
  const f = t.figures;
  const lines = [
    `conformance: ${f.passed} passed, ${f.failed} failed, ${f.not_run} not run, ${f.skipped} skipped (${f.skipped_by_list} by the skip list, ${f.skipped_at_runtime} at run time) of ${f.selected} selected; pass rate ${(t.ratios.pass_rate * 100).toFixed(1)}% of ${f.applicable} applicable`,
  ];
  for (const f2 of t.suite_failures) lines.push(`  suite: ${f2}`);
  for (const [cause, names] of Object.entries(t.failure_groups)) {
    if (names.length === 0) continue;
    lines.push(`  ${cause} (${names.length}):`);
    for (const n of names) {
      const s = t.specs.find((x) => x.name === n);
      lines.push(`    - ${n}\n        ${s?.triage ? `[${s.triage}] ` : ''}${s?.first_error ?? ''}`);
    }
  }
  return lines.join('\n');
}
