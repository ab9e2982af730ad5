// The conformance table from ginkgo's JSON report: scope by label, the skip list, outcomes, first error
// lines and causes, pass rate = passed / applicable. Runs with node's test runner (no cluster needed).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { buildTable, classify, firstErrorLine, formatTable, literalAlternation, parseSkipList, parseTriage, type GinkgoReport, type GinkgoSpecReport } from './report.js';

function spec(text: string, state: string, over: Partial<GinkgoSpecReport> = {}): GinkgoSpecReport {
  return {
    ContainerHierarchyTexts: ['[sig-node] Pods'],
    ContainerHierarchyLabels: [['sig-node']],
    LeafNodeType: 'It',
    LeafNodeText: text,
    LeafNodeLabels: ['NodeConformance'],
    LeafNodeLocation: { FileName: 'k8s.io/kubernetes@v1.34.4/test/e2e/common/node/pods.go', LineNumber: 10 },
    State: state,
    RunTime: 2_500_000_000,
    ...over,
  };
}

const skips = parseSkipList('# comment\n\nshould pull from the cloud :: needs a cloud provider\n');

test('parseSkipList: one spec and its reason a line; a line without a reason is an error naming the line', () => {
  assert.deepEqual(skips, [{ text: 'should pull from the cloud', reason: 'needs a cloud provider' }]);
  assert.throws(() => parseSkipList('ok :: fine\nno reason here\n'), /line 2/);
  assert.throws(() => parseSkipList(' :: only a reason\n'), /line 1/);
});

test('literalAlternation escapes regexp characters', () => {
  const re = new RegExp(literalAlternation(['a [x] (y)', 'b.c']));
  assert.ok(re.test('spec a [x] (y) here'));
  assert.ok(!re.test('bXc'));
});

test('buildTable: scope, skip list, outcomes, suite failures, pass rate over applicable specs', () => {
  const report: GinkgoReport = {
    SuiteDescription: 'Kubernetes e2e suite', SuiteSucceeded: false, RunTime: 1,
    SpecReports: [
      spec('should get a host IP', 'passed'),
      spec('should be updated', 'failed', { Failure: { Message: '\nfailed to get logs from pod-x: error dialing backend: dial tcp 10.0.0.1:10250: connect: connection refused' } }),
      spec('should report the reason', 'failed', { Failure: { Message: 'Expected\n    <string>: Error\nto equal\n    <string>: DeadlineExceeded' } }),
      spec('should become ready', 'timedout', { Failure: { Message: 'Timed out after 300.000s.' } }),
      spec('should pull from the cloud', 'skipped'),
      spec('is skipped by the framework', 'skipped', { Failure: { Message: 'Only supported for providers [gce]' } }),
      spec('was filtered out by the focus', 'skipped'),
      spec('is not NodeConformance', 'failed', { LeafNodeLabels: ['Conformance'] }),
      spec('is flaky', 'failed', { LeafNodeLabels: ['NodeConformance', 'Flaky'] }),
      spec('setup', 'failed', { LeafNodeType: 'SynchronizedBeforeSuite', Failure: { Message: 'nodes not ready' } }),
    ],
  };
  const t = buildTable([report], { label: 'NodeConformance', excludeLabels: ['Flaky'], skips });
  assert.deepEqual(t.figures, { selected: 6, applicable: 4, passed: 1, failed: 3, not_run: 0, skipped: 2, skipped_by_list: 1, skipped_at_runtime: 1 });
  assert.equal(t.ratios.pass_rate, 0.25);
  assert.deepEqual(t.failure_groups['missing endpoint'], ['[sig-node] Pods should be updated']);
  assert.deepEqual(t.failure_groups['wrong value'], ['[sig-node] Pods should report the reason']);
  assert.deepEqual(t.failure_groups.timing, ['[sig-node] Pods should become ready']);
  assert.deepEqual(t.suite_failures, ['SynchronizedBeforeSuite failed: nodes not ready']);
  const failed = t.specs.find((s) => s.name.endsWith('should be updated'));
  assert.equal(failed?.file, 'common/node/pods.go');
  assert.equal(failed?.seconds, 2.5);
  assert.match(failed?.first_error ?? '', /^failed to get logs from pod-x: error dialing backend/);
  assert.match(t.specs.find((s) => s.name.endsWith('cloud'))?.skip_reason ?? '', /^skip list: needs a cloud provider/);
  assert.match(formatTable(t), /1 passed, 3 failed, 0 not run, 2 skipped .* pass rate 25\.0% of 4 applicable/);
  // a full run: a spec skipped without a message never started (interrupted suite) and still applies
  const full = buildTable([report], { label: 'NodeConformance', excludeLabels: ['Flaky'], skips, allSelected: true });
  assert.equal(full.figures.not_run, 1);
  assert.equal(full.figures.applicable, 5);
  assert.equal(full.ratios.pass_rate, 0.2);
});

test('buildTable with a subset counts only the listed specs', () => {
  const report: GinkgoReport = { SuiteDescription: 's', SuiteSucceeded: true, RunTime: 1, SpecReports: [spec('a one', 'passed'), spec('b two', 'passed')] };
  const t = buildTable([report], { label: 'NodeConformance', excludeLabels: [], skips: [], only: ['b two'] });
  assert.equal(t.figures.selected, 1);
  assert.equal(t.ratios.pass_rate, 1);
});

test('classify and firstErrorLine', () => {
  assert.equal(classify('unable to upgrade connection: 404 page not found'), 'missing endpoint');
  assert.equal(classify('exec: "curl": executable file not found in $PATH'), 'missing feature');
  assert.equal(classify('context deadline exceeded'), 'timing');
  assert.equal(classify('Timed out after 120.006s.\nexpected pod to be failed with reason PodOSNotSupported, got instead:'), 'wrong value');
  assert.equal(classify('Timed out after 60.001s.'), 'timing');
  assert.equal(classify('Expected\n <int>: 1\nto equal\n <int>: 2'), 'wrong value');
  assert.equal(classify('failed,  1 out of 1 connections failed'), 'network');
  assert.equal(classify('Interrupted by User', 'interrupted'), 'timing');
  assert.equal(classify('failed to get logs from pod-x: an error on the server ("unknown") has prevented the request'), 'missing endpoint');
  assert.equal(classify('expected number of restarts: 1, found restarts: 0'), 'wrong value');
  assert.equal(classify('something else'), 'other');
  assert.equal(firstErrorLine('\n\n  first\nsecond'), 'first');
  assert.equal(firstErrorLine(undefined), '(no message)');
});

test('triage: a listed failure takes its cause and note; a bad cause is an error', () => {
  const triage = parseTriage('should report the reason :: missing feature :: not implemented yet\n');
  const report: GinkgoReport = { SuiteDescription: 's', SuiteSucceeded: false, RunTime: 1, SpecReports: [spec('should report the reason', 'failed', { Failure: { Message: 'Expected\n a\nto equal\n b' } })] };
  const t = buildTable([report], { label: 'NodeConformance', excludeLabels: [], skips: [], triage });
  assert.equal(t.specs[0]?.cause, 'missing feature');
  assert.equal(t.specs[0]?.triage, 'not implemented yet');
  assert.throws(() => parseTriage('x :: slow :: y\n'), /line 1/);
});

test('the committed skip list, triage list and CI subset parse', () => {
  const dir = new URL('.', import.meta.url);
  assert.ok(parseTriage(readFileSync(new URL('triage.txt', dir), 'utf8')).length > 0);
  for (const s of parseSkipList(readFileSync(new URL('skip.txt', dir), 'utf8'))) assert.ok(s.reason.length > 10, s.text);
  const subset = readFileSync(new URL('ci-subset.txt', dir), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  assert.ok(subset.length <= 20);
});
